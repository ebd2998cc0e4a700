// `nimbus deploy` of an Azure Functions app (Node.js v4 model: host.json, and package.json with
// @azure/functions): the app folder and its run-time node_modules are copied as they are (the instance loads
// the app's own @azure/functions), the app is loaded once in a child process to find what it registers, and
// the spec says so (`handlerStyle: azure`, `azure: {routePrefix, http, timers, queues}`), with
// local.settings.json's Values as environment variables. What Nimbus cannot run is a coded error here.
import { fork } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { type FunctionSpecInput, formatZodIssues, parseFunctionSpec } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import {
  AzureAppError,
  azureAppKind,
  functionFiles,
  type HostSettings,
  readHostJson,
  readMain,
} from '../runtimes/azure/app-files.js';
import { azureSpecSchema } from '../runtimes/azure/azure-spec.js';
import { AZURE_MANIFEST } from '../runtimes/azure/azure-style.js';
import { parseRouteTemplate, RouteTemplateError } from '../runtimes/azure/route-template.js';
import type { BuiltFunction } from './build.js';
import { hashBundleDir, normalizeBundleDir } from './bundle-hash.js';
import { copyPackages, PackageGraph } from './node-modules.js';
import {
  ensureNodeDependencies,
  type PackageJson,
  productionDependencies,
  readPackageJson,
} from './npm-install.js';

/** The discovery script (the same path from src/ under tsx and from dist/). */
const DISCOVER_PATH = fileURLToPath(new URL('../../dist/runtimes/azure/discover.js', import.meta.url));
/** Loading the app to find its functions may take this long. */
export const DISCOVERY_TIMEOUT_MS = 30_000;
const OUTPUT_TAIL_LINES = 20;
/** The largest `timeoutMs` a spec may have. */
const MAX_TIMEOUT_MS = 900_000;
/** Not copied into the bundle: local state and secrets (local.settings.json's Values go in the spec). */
const SKIPPED_NAMES = new Set([
  'node_modules',
  '.git',
  '.vscode',
  '.DS_Store',
  'local.settings.json',
  'nimbus.yml',
  'nimbus.yaml',
  '__blobstorage__',
  '__queuestorage__',
  '__azurite_db_blob__.json',
  '__azurite_db_queue__.json',
  '__azurite_db_table__.json',
]);
/** Keys of nimbus.yml that the app itself decides. */
const APP_KEYS = ['runtime', 'handler', 'handlerStyle', 'azure', 'command'] as const;

/**
 * Whether `dir` is an Azure Functions app. The Node.js v4 model is built by buildAzureApp; the others are
 * an error that says so (a Python app, or function.json folders of the v1–v3 models).
 */
export function isAzureFunctionsApp(dir: string): boolean {
  const kind = azureAppKind(dir);
  if (kind === undefined) return false;
  if (kind === 'python')
    throw new NimbusError('ERR_AZURE_MODEL_UNSUPPORTED', [
      'function_app.py is an Azure Functions Python app, whose azure-functions package Nimbus cannot load here',
    ]);
  if (kind === 'other') {
    if (
      readdirSync(dir, { withFileTypes: true }).some(
        (e) => e.isDirectory() && existsSync(join(dir, e.name, 'function.json')),
      )
    )
      throw new NimbusError('ERR_AZURE_MODEL_UNSUPPORTED', [
        'the folder holds function.json files (the programming model before v4)',
      ]);
    return false;
  }
  return true;
}

export interface AzureBuildOptions {
  outDir?: string;
  /** `--name`; else nimbus.yml's name, else package.json's (without its scope). */
  name?: string;
  /** nimbus.yml (or a stack file's entry): Nimbus's own keys (scale, memoryMb, environment, …). */
  spec: { name?: string } & FunctionSpecInput;
  /** How long loading the app may take. Default DISCOVERY_TIMEOUT_MS. */
  discoveryTimeoutMs?: number;
  /** As for every Node function (build.ts): npm progress lines, whether npm may run, which npm. */
  log?: (line: string) => void;
  installDependencies?: boolean;
  npm?: string;
}

export async function buildAzureApp(dir: string, options: AzureBuildOptions): Promise<BuiltFunction> {
  const { name: specName, ...own } = options.spec;
  for (const key of APP_KEYS) {
    if (own[key] !== undefined)
      throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [
        `${key}: an Azure Functions app sets it itself; remove it from nimbus.yml`,
      ]);
  }
  // What can be checked without running the app is checked before anything is copied.
  let host: HostSettings;
  try {
    host = readHostJson(dir);
    functionFiles(dir, readMain(dir));
  } catch (err) {
    if (err instanceof AzureAppError) throw new NimbusError('ERR_AZURE_APP_INVALID', [err.message]);
    throw err;
  }
  // npm installs the dependencies when node_modules is missing or stale, as for every Node function;
  // unless the app has no node_modules of its own and its packages resolve from above (an npm workspace).
  if (
    options.installDependencies !== false &&
    (existsSync(join(dir, 'node_modules')) || !new PackageGraph(dir, {}).resolveFromRoot('@azure/functions'))
  )
    await ensureNodeDependencies(dir, {
      ...(options.log ? { log: options.log } : {}),
      ...(options.npm ? { npm: options.npm } : {}),
    });
  const pkg = readPackageJson(dir) ?? {};
  const graph = new PackageGraph(dir, pkg);
  checkLibrary(dir, pkg, graph);
  const pkgName = typeof pkg.name === 'string' ? pkg.name.replace(/^@[^/]+\//, '') : undefined;
  const name = options.name ?? specName ?? pkgName ?? basename(dir);
  const environment = { ...localSettings(dir), ...stringValues(own.environment) };

  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'nimbus-bundle-'));
  try {
    mkdirSync(outDir, { recursive: true });
    const spec = await buildInto(dir, outDir, { own, environment, host, pkg, graph }, options);
    normalizeBundleDir(outDir);
    return { name, spec, bundleDir: outDir, hash: await hashBundleDir(outDir) };
  } catch (err) {
    // A failed build leaves no copy of the app behind (a temp dir of its own; a given one is the caller's).
    if (options.outDir === undefined) rmSync(outDir, { recursive: true, force: true });
    throw err;
  }
}

/** Copies the app and its packages into `outDir`, finds what it registers, and returns the spec. */
async function buildInto(
  dir: string,
  outDir: string,
  app: {
    own: FunctionSpecInput;
    environment: Record<string, string>;
    host: HostSettings;
    pkg: PackageJson;
    graph: PackageGraph;
  },
  options: AzureBuildOptions,
): Promise<FunctionSpecInput> {
  const { own, environment, host, pkg, graph } = app;
  cpSync(dir, outDir, {
    recursive: true,
    dereference: true,
    filter: (source) => source === dir || !SKIPPED_NAMES.has(basename(source)),
  });
  // The packages the app needs at run time (dependencies and theirs; no dev packages) go beside it as they
  // are installed, found as Node finds them (packages an npm workspace hoisted above the app included).
  for (const name of productionDependencies(pkg).required) {
    if (!graph.resolveFromRoot(name))
      throw new NimbusError('ERR_AZURE_APP_INVALID', [
        `package "${name}" is not installed: run \`npm install\` in ${dir}`,
      ]);
  }
  copyPackages(graph.closure(graph.seeds), outDir);

  const found = await discover(outDir, environment, options.discoveryTimeoutMs ?? DISCOVERY_TIMEOUT_MS);
  checkRoutes(found);
  const azure = azureSpecSchema.safeParse(found);
  if (!azure.success) throw new NimbusError('ERR_AZURE_APP_INVALID', [formatZodIssues(azure.error)]);
  writeFileSync(join(outDir, AZURE_MANIFEST), `${JSON.stringify(azure.data, null, 2)}\n`);

  // host.json's functionTimeout, unless nimbus.yml says otherwise (Nimbus's longest is 15 minutes).
  const timeoutMs =
    own.timeoutMs ??
    (host.timeoutMs === undefined ? undefined : Math.min(MAX_TIMEOUT_MS, Math.max(1, host.timeoutMs)));
  const spec: FunctionSpecInput = {
    ...own,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    runtime: 'node',
    handlerStyle: 'azure',
    environment,
    azure: azure.data,
  };
  parseFunctionSpec(spec);
  return spec;
}

/** A route template that does not parse is named with its function, before the rest of the spec is checked. */
function checkRoutes(found: unknown): void {
  const http = (found as { http?: unknown } | null)?.http;
  if (!Array.isArray(http)) return;
  for (const entry of http as unknown[]) {
    const { route, function: fn } = (entry ?? {}) as { route?: unknown; function?: unknown };
    if (typeof route !== 'string') continue;
    try {
      parseRouteTemplate(route);
    } catch (err) {
      if (!(err instanceof RouteTemplateError)) throw err;
      throw new NimbusError('ERR_AZURE_ROUTE_INVALID', [route, String(fn), err.message]);
    }
  }
}

/** @azure/functions must be a (run-time) dependency, installed, of the v4 model (4.x). */
function checkLibrary(dir: string, pkg: PackageJson, graph: PackageGraph): void {
  if (!pkg.dependencies || !('@azure/functions' in pkg.dependencies))
    throw new NimbusError('ERR_AZURE_APP_INVALID', [
      '@azure/functions is a devDependency: the app needs it at run time, so move it to "dependencies"',
    ]);
  const found = graph.resolveFromRoot('@azure/functions');
  if (!found)
    throw new NimbusError('ERR_AZURE_APP_INVALID', [
      `@azure/functions is not installed: run \`npm install\` in ${dir}`,
    ]);
  const installed: unknown = readPackageJson(found.dir);
  const version =
    installed && typeof installed === 'object' && 'version' in installed ? String(installed.version) : '';
  if (!/^4\./.test(version))
    throw new NimbusError('ERR_AZURE_MODEL_UNSUPPORTED', [
      `@azure/functions ${version || '(no version)'} is installed; the v4 programming model needs @azure/functions 4.x`,
    ]);
}

const localSettingsSchema = z.looseObject({
  IsEncrypted: z.boolean().optional(),
  Values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

/**
 * local.settings.json's Values, as environment variables (`:` in a name becomes `__`, as on Linux). Values
 * are never put in an error: they hold connection strings.
 */
export function localSettings(dir: string): Record<string, string> {
  const path = join(dir, 'local.settings.json');
  if (!existsSync(path)) return {};
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new NimbusError('ERR_AZURE_SETTINGS_INVALID', ['it is not valid JSON']);
  }
  const parsed = localSettingsSchema.safeParse(value);
  if (!parsed.success)
    throw new NimbusError('ERR_AZURE_SETTINGS_INVALID', [
      '"Values" must be an object of strings (numbers and booleans are written as strings)',
    ]);
  if (parsed.data.IsEncrypted)
    throw new NimbusError('ERR_AZURE_SETTINGS_INVALID', [
      'it is encrypted ("IsEncrypted": true); decrypt it with `func settings decrypt` first',
    ]);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(parsed.data.Values ?? {})) {
    const name = key.replaceAll(':', '__').replaceAll('.', '_');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new NimbusError('ERR_AZURE_SETTINGS_INVALID', [
        `setting name "${key.slice(0, 100)}" cannot be an environment variable (letters, digits, "_", ":" and "." only)`,
      ]);
    out[name] = String(v);
  }
  return out;
}

function stringValues(env: unknown): Record<string, string> {
  if (!env || typeof env !== 'object') return {};
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/** What discover.ts sends (its DiscoveryMessage). */
const discoverySchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    spec: z.unknown(),
    problems: z.object({ invalid: z.array(z.string()), unsupported: z.array(z.string()) }),
  }),
  z.object({
    ok: z.literal(false),
    kind: z.enum(['app', 'load']),
    message: z.string(),
    stack: z.string().optional(),
  }),
]);

/** Loads the app in `bundleDir` in a child process (discover.ts) and returns the `azure` spec it registers. */
async function discover(
  bundleDir: string,
  environment: Record<string, string>,
  timeoutMs: number,
): Promise<unknown> {
  const env: Record<string, string> = { ...environment, NODE_ENV: 'production' };
  for (const key of ['PATH', 'HOME', 'TZ', 'LANG'])
    if (process.env[key] !== undefined) env[key] ??= process.env[key];
  const { message, output, exit } = await new Promise<{
    message: unknown;
    output: string;
    exit: string;
  }>((resolve) => {
    const child = fork(DISCOVER_PATH, [bundleDir], {
      cwd: bundleDir,
      env,
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let received: unknown;
    const chunks: Buffer[] = [];
    let size = 0;
    const keep = (c: Buffer): void => {
      // The tail is what is shown; a flood is not kept.
      chunks.push(c);
      size += c.length;
      while (size > 64 * 1024 && chunks.length > 1) size -= chunks.shift()!.length;
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('message', (m) => {
      received ??= m;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ message: undefined, output: '', exit: `could not start node: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const exit =
        signal === 'SIGKILL'
          ? `it did not finish loading within ${timeoutMs / 1000} s`
          : `it exited with ${signal ?? `code ${code}`} before registering its functions`;
      resolve({ message: received, output: Buffer.concat(chunks).toString('utf8'), exit });
    });
  });
  const tail = output.trim().split('\n').filter(Boolean).slice(-OUTPUT_TAIL_LINES).join('\n');
  const parsed = discoverySchema.safeParse(message);
  if (!parsed.success)
    throw new NimbusError('ERR_AZURE_APP_LOAD_FAILED', [tail ? `${exit}; its output:\n${tail}` : exit]);
  const result = parsed.data;
  if (!result.ok) {
    if (result.kind === 'app') throw new NimbusError('ERR_AZURE_APP_INVALID', [result.message]);
    throw new NimbusError('ERR_AZURE_APP_LOAD_FAILED', [firstStackLines(result.stack ?? result.message)]);
  }
  const { invalid, unsupported } = result.problems;
  if (invalid.length > 0) throw new NimbusError('ERR_AZURE_APP_INVALID', [invalid.join('; ')]);
  if (unsupported.length > 0) throw new NimbusError('ERR_AZURE_UNSUPPORTED', [unsupported.join('; ')]);
  return result.spec;
}

/** An error's message and the first frames of its stack (where in the app it was thrown). */
function firstStackLines(stack: string): string {
  return stack.split('\n').slice(0, 4).join('\n');
}
