// Turns a function folder into a bundle directory: npm dependencies installed when missing or stale, then
// JS/TS bundled by esbuild (node-bundle.ts) and other runtimes' folders copied (copy-build.ts). A folder
// without a runtime named is told apart by what it holds (JS/TS sources, or handler.py, main.py, app.py).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type FunctionSpecInput, parseFunctionSpec, parseHandler } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import { buildAzureApp, isAzureFunctionsApp } from './azure.js';
import { hashBundleDir, normalizeBundleDir } from './bundle-hash.js';
import { type CopyBuildOptions, copyBuild } from './copy-build.js';
import { BUNDLE_ENTRY, bundleNode } from './node-bundle.js';
import { ensureNodeDependencies, readPackageJson } from './npm-install.js';

export { BUNDLE_ENTRY };

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.tsx', '.jsx'];
const DEFAULT_SOURCES = ['index', 'handler', 'src/index'];
/** Files that make a folder without JS/TS sources a Python function, in the order they are looked for. */
const PYTHON_SOURCES = ['handler', 'main', 'app'];
/** Function names a detected Python file is searched for, in order. */
const PYTHON_FUNCTIONS = ['handle', 'handler', 'lambda_handler', 'main'];

export interface BuiltFunction {
  name: string;
  /** The spec as written (validated; defaults are applied by the server), with a detected runtime added. */
  spec: FunctionSpecInput;
  bundleDir: string;
  hash: string;
}

export interface BuildOptions extends CopyBuildOptions {
  /** Where the bundle is written. Default: a fresh temp dir. */
  outDir?: string;
  name?: string;
  /** Replaces the folder's nimbus.yml (a stack file gives each function's spec itself). */
  spec?: FunctionSpecInput;
  /** Progress lines: dependency installs, what ships beside the bundle. Default: none. */
  log?: (line: string) => void;
  /** Run npm when package.json declares dependencies and node_modules is missing or stale. Default true. */
  installDependencies?: boolean;
  /** The npm command. Default `npm`. */
  npm?: string;
}

/** Reads `nimbus.yml` (or `.yaml`) from a function folder; an absent file is an empty spec. */
export function readFunctionSpec(dir: string): { name?: string } & FunctionSpecInput {
  for (const file of ['nimbus.yml', 'nimbus.yaml']) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    let value: unknown;
    try {
      value = parseYaml(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [
        `${file} is not valid YAML: ${(err as Error).message}`,
      ]);
    }
    if (value === null || value === undefined) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [`${file} must hold a mapping of keys`]);
    }
    return value as { name?: string } & FunctionSpecInput;
  }
  return {};
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `path` itself when it is a source file, else `path` + a source extension, else `path/index.*`. */
function sourceAt(path: string): string | undefined {
  if (SOURCE_EXTENSIONS.some((e) => path.endsWith(e)) && isFile(path)) return path;
  for (const ext of SOURCE_EXTENSIONS) if (isFile(path + ext)) return path + ext;
  for (const ext of SOURCE_EXTENSIONS)
    if (isFile(join(path, `index${ext}`))) return join(path, `index${ext}`);
  return undefined;
}

/** package.json's `main`, when it names a source file that is there. */
function mainSource(dir: string): string | undefined {
  const main = readPackageJson(dir)?.main;
  return typeof main === 'string' && main !== '' ? sourceAt(resolve(dir, main)) : undefined;
}

/** The handler's source: `file` when the spec names one, else package.json's main, else index/handler/src/index. */
function findSource(dir: string, file: string | undefined): string | undefined {
  if (file) return sourceAt(join(dir, file));
  const main = mainSource(dir);
  if (main) return main;
  for (const stem of DEFAULT_SOURCES) {
    for (const ext of SOURCE_EXTENSIONS) if (isFile(join(dir, stem + ext))) return join(dir, stem + ext);
  }
  return undefined;
}

/**
 * A folder whose spec names no runtime: Node when it holds the handler's JS/TS source, Python when it
 * holds handler.py, main.py or app.py instead (with the first of handle, handler, lambda_handler, main
 * it defines as the handler). Returns the spec with what was detected added.
 */
export function detectRuntime(dir: string, spec: FunctionSpecInput): FunctionSpecInput {
  if (spec.runtime !== undefined) return spec;
  const { file } = parseHandler(spec.handler);
  if (findSource(dir, file)) return spec;
  if (spec.handler) {
    const module = spec.handler.slice(0, spec.handler.lastIndexOf('.'));
    if (module && isFile(join(dir, `${module.replaceAll('.', '/')}.py`)))
      return { ...spec, runtime: 'python' };
    return spec;
  }
  for (const stem of PYTHON_SOURCES) {
    const path = join(dir, `${stem}.py`);
    if (!isFile(path)) continue;
    const text = readFileSync(path, 'utf8');
    const fn = PYTHON_FUNCTIONS.find((name) =>
      new RegExp(`^(async\\s+)?def\\s+${name}\\s*\\(`, 'm').test(text),
    );
    return { ...spec, runtime: 'python', handler: `${stem}.${fn ?? 'handle'}` };
  }
  return spec;
}

/** Bundles a function folder into `outDir` (a fresh temp dir by default) and hashes the result. */
export async function buildFunction(sourceDir: string, options: BuildOptions = {}): Promise<BuiltFunction> {
  const dir = resolve(sourceDir);
  if (!existsSync(dir)) throw new NimbusError('ERR_BUILD_FAILED', [`folder ${sourceDir} does not exist`]);
  const { name: specName, ...written }: { name?: string } & FunctionSpecInput =
    options.spec ?? readFunctionSpec(dir);
  // An Azure Functions app (host.json, package.json with @azure/functions) keeps its files: build/azure.ts.
  if (isAzureFunctionsApp(dir))
    return buildAzureApp(dir, {
      ...options,
      spec: specName === undefined ? written : { ...written, name: specName },
    });
  const spec = detectRuntime(dir, written);
  const parsed = parseFunctionSpec(spec);
  const name = options.name ?? specName ?? basename(dir);
  const log = options.log ?? (() => {});
  // A Python function's package.json (Serverless plugins, tooling) is not its code's.
  if (options.installDependencies !== false && parsed.runtime !== 'python')
    await ensureNodeDependencies(dir, { log, ...(options.npm ? { npm: options.npm } : {}) });
  // A temp dir made here is removed again on every failure; a caller's outDir is the caller's.
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'nimbus-bundle-'));
  try {
    mkdirSync(outDir, { recursive: true });
    if (parsed.runtime !== 'node') {
      // Other languages run from the folder as it is (plus pip's packages for Python): see copy-build.ts.
      await copyBuild(dir, outDir, parsed, { ...options, log });
    } else {
      const { file, exportName } = parseHandler(spec.handler);
      const entry = findSource(dir, file);
      if (!entry) {
        const wanted = file ? `"${file}"` : 'package.json "main", index.ts, index.js or handler.js';
        throw new NimbusError('ERR_BUILD_FAILED', [
          `no handler source ${wanted} found in ${dir}; set "handler" in nimbus.yml`,
        ]);
      }
      const result = await bundleNode(dir, entry, outDir);
      if (result.shippedCount > 0) {
        const deps = result.shippedCount - result.shipped.length;
        const named = result.shipped.map((p) => `${p.name} [${p.reason}]`).join(', ');
        log(`shipping node_modules beside the bundle: ${named}${deps > 0 ? ` (+${deps} dependencies)` : ''}`);
      }
      checkExports(entry.slice(dir.length + 1), result.exports, exportName, parsed.handlerStyle);
    }
    // No setuid bit, link or device leaves the builder: the server makes bundles plain too.
    normalizeBundleDir(outDir);
    return { name, spec, bundleDir: outDir, hash: await hashBundleDir(outDir) };
  } catch (err) {
    if (!options.outDir) rmSync(outDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * An ES module whose exports hold neither `handler` nor a default (nor the export the spec names) gets
 * no further than its first request: say at build which `handler: file.export` to set. A CommonJS module
 * shows only `default` here; the runner checks it when it loads.
 */
function checkExports(
  source: string,
  exports: string[],
  exportName: string | undefined,
  style: string | undefined,
): void {
  if (exports.length === 0 || exports.includes('default') || style === 'openfaas') return;
  const stem = source.replace(/\.[cm]?[jt]sx?$/, '');
  const named = exports.filter((e) => e !== 'handler');
  if (exportName !== undefined) {
    if (exports.includes(exportName)) return;
    throw new NimbusError('ERR_BUILD_HANDLER_EXPORT', [
      source,
      exports.join(', '),
      `has no export "${exportName}"`,
      `${stem}.${exports[0]}`,
    ]);
  }
  if (exports.includes('handler') || named.length === 0) return;
  throw new NimbusError('ERR_BUILD_HANDLER_EXPORT', [
    source,
    exports.join(', '),
    'has no export "handler" and no default export',
    `${stem}.${named[0]}`,
  ]);
}
