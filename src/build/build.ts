// Turns a function folder into a bundle directory: esbuild bundles JS/TS and its dependencies into one
// ESM file, so an instance loads a single module; other runtimes get the folder copied (copy-build.ts).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type FunctionSpecInput, parseFunctionSpec, parseHandler } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import { hashBundleDir, normalizeBundleDir } from './bundle-hash.js';
import { type CopyBuildOptions, copyBuild } from './copy-build.js';

export const BUNDLE_ENTRY = 'index.mjs';
const SOURCE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cjs', '.tsx', '.jsx'];
const DEFAULT_SOURCES = ['index', 'handler', 'src/index'];

export interface BuiltFunction {
  name: string;
  /** The spec as written (validated; defaults are applied by the server). */
  spec: FunctionSpecInput;
  bundleDir: string;
  hash: string;
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

function findSource(dir: string, file: string | undefined): string {
  const stems = file ? [file] : DEFAULT_SOURCES;
  for (const stem of stems) {
    if (file && existsSync(join(dir, stem)) && SOURCE_EXTENSIONS.some((e) => stem.endsWith(e)))
      return join(dir, stem);
    for (const ext of SOURCE_EXTENSIONS) if (existsSync(join(dir, stem + ext))) return join(dir, stem + ext);
  }
  const wanted = file ? `"${file}"` : 'index.ts, index.js or handler.ts';
  throw new NimbusError('ERR_BUILD_FAILED', [
    `no handler source ${wanted} found in ${dir}; set "handler" in nimbus.yml`,
  ]);
}

/**
 * Bundles a function folder into `outDir` (a fresh temp dir by default) and hashes the result. `spec`
 * replaces the folder's nimbus.yml (a stack file gives each function's spec itself).
 */
export async function buildFunction(
  sourceDir: string,
  options: { outDir?: string; name?: string; spec?: FunctionSpecInput } & CopyBuildOptions = {},
): Promise<BuiltFunction> {
  const dir = resolve(sourceDir);
  if (!existsSync(dir)) throw new NimbusError('ERR_BUILD_FAILED', [`folder ${sourceDir} does not exist`]);
  const { name: specName, ...spec }: { name?: string } & FunctionSpecInput =
    options.spec ?? readFunctionSpec(dir);
  const parsed = parseFunctionSpec(spec);
  const name = options.name ?? specName ?? basename(dir);
  // A temp dir made here is removed again on every failure; a caller's outDir is the caller's.
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'nimbus-bundle-'));
  try {
    mkdirSync(outDir, { recursive: true });
    if (parsed.runtime !== 'node') {
      // Other languages run from the folder as it is (plus pip's packages for Python): see copy-build.ts.
      await copyBuild(dir, outDir, parsed, options);
    } else {
      await bundleNode(dir, outDir, spec);
    }
    // No setuid bit, link or device leaves the builder: the server makes bundles plain too.
    normalizeBundleDir(outDir);
    return { name, spec, bundleDir: outDir, hash: await hashBundleDir(outDir) };
  } catch (err) {
    if (!options.outDir) rmSync(outDir, { recursive: true, force: true });
    throw err;
  }
}

/** esbuild: the handler and its dependencies as one ESM file, BUNDLE_ENTRY. */
async function bundleNode(dir: string, outDir: string, spec: FunctionSpecInput): Promise<void> {
  const { file } = parseHandler(spec.handler);
  const entry = findSource(dir, file);
  const { build } = await import('esbuild');
  try {
    await build({
      entryPoints: [entry],
      outfile: join(outDir, BUNDLE_ENTRY),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      logLevel: 'silent',
      // Lets bundled CommonJS dependencies call require() for Node built-ins.
      banner: {
        js: "import { createRequire as __nimbusCreateRequire } from 'node:module'; const require = __nimbusCreateRequire(import.meta.url);",
      },
      legalComments: 'none',
    });
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] })
      .errors;
    const detail = errors?.length
      ? errors
          .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
          .join('; ')
      : (err as Error).message;
    throw new NimbusError('ERR_BUILD_FAILED', [detail], { cause: err });
  }
}
