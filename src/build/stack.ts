// An OpenFaaS stack file (stack.yml) read as Nimbus functions: each entry's `lang` picks how its handler
// folder is built natively (no Docker, no template download), and OpenFaaS's keys (environment, labels,
// annotations, limits, ...) become spec keys. Nimbus's own keys may sit beside them and win.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { FunctionSpecInput } from '../config/function-spec.js';
import {
  IMAGE_ANNOTATION,
  OPENFAAS_NAMESPACE,
  specFromLimits,
  specFromWatchdogEnv,
} from '../config/openfaas.js';
import { NimbusError } from '../errors.js';
import { type BuiltFunction, buildFunction, readFunctionSpec } from './build.js';
import type { CopyBuildOptions } from './copy-build.js';

/** The templates Nimbus builds natively, and the spec each one stands for. */
export const STACK_LANGS: Readonly<Record<string, FunctionSpecInput>> = {
  node22: { runtime: 'node', handler: 'handler', handlerStyle: 'openfaas' },
  node20: { runtime: 'node', handler: 'handler', handlerStyle: 'openfaas' },
  node18: { runtime: 'node', handler: 'handler', handlerStyle: 'openfaas' },
  'python3-http': { runtime: 'python', handler: 'handler.handle', handlerStyle: 'openfaas' },
  'python3-http-debian': { runtime: 'python', handler: 'handler.handle', handlerStyle: 'openfaas' },
  // A Nimbus function folder (its nimbus.yml applies): Node, Python, exec, http or Lambda.
  nimbus: {},
};

/** stack.yml's own keys of a function; every other key is a Nimbus spec key. */
const OPENFAAS_KEYS = new Set([
  'lang',
  'handler',
  'image',
  'fprocess',
  'namespace',
  'environment',
  'environment_file',
  'secrets',
  'labels',
  'annotations',
  'constraints',
  'limits',
  'requests',
  'readonly_root_filesystem',
  'build_args',
  'build_options',
  'build_secrets',
  'platforms',
  'skip_build',
]);

export interface StackFunction {
  name: string;
  lang: string;
  /** The handler folder (absolute). */
  dir: string;
  spec: FunctionSpecInput;
}

/** `${VAR}` and `${VAR:-default}` replaced from the environment, as faas-cli does before parsing. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
    (_, name: string, fallback?: string) => {
      const value = env[name];
      return value !== undefined && value !== '' ? value : (fallback ?? '');
    },
  );
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringValues(value: unknown, what: string, file: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isMap(value)) throw new NimbusError('ERR_STACK_INVALID', [file, `${what} must be a mapping`]);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

/** Reads and checks a stack file; `only` keeps the functions named (all when empty). */
export function readStack(
  file: string,
  options: { only?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): StackFunction[] {
  const path = resolve(file);
  if (!existsSync(path)) throw new NimbusError('ERR_STACK_INVALID', [file, 'the file does not exist']);
  let doc: unknown;
  try {
    doc = parseYaml(substituteEnv(readFileSync(path, 'utf8'), options.env ?? process.env));
  } catch (err) {
    throw new NimbusError('ERR_STACK_INVALID', [file, `not valid YAML: ${(err as Error).message}`]);
  }
  if (!isMap(doc) || !isMap(doc.functions) || Object.keys(doc.functions).length === 0)
    throw new NimbusError('ERR_STACK_INVALID', [file, 'it needs a "functions:" mapping of name to function']);
  const base = dirname(path);
  const only = options.only ?? [];
  for (const name of only) {
    if (!(name in doc.functions))
      throw new NimbusError('ERR_STACK_INVALID', [file, `it has no function "${name}"`]);
  }
  const out: StackFunction[] = [];
  for (const [name, raw] of Object.entries(doc.functions)) {
    if (only.length > 0 && !only.includes(name)) continue;
    if (!isMap(raw))
      throw new NimbusError('ERR_STACK_INVALID', [file, `functions.${name} must be a mapping`]);
    out.push(stackFunction(name, raw, base, file));
  }
  return out;
}

function stackFunction(name: string, fn: Record<string, unknown>, base: string, file: string): StackFunction {
  const lang = fn.lang === undefined ? 'nimbus' : String(fn.lang);
  const template = STACK_LANGS[lang];
  if (!template)
    throw new NimbusError('ERR_STACK_LANG_UNSUPPORTED', [name, lang, Object.keys(STACK_LANGS).join(', ')]);
  const where = `functions.${name}`;
  if (fn.namespace !== undefined && fn.namespace !== '' && fn.namespace !== OPENFAAS_NAMESPACE)
    throw new NimbusError('ERR_NAMESPACE_NOT_FOUND', [String(fn.namespace)]);
  if (Array.isArray(fn.secrets) && fn.secrets.length > 0)
    throw new NimbusError('ERR_SECRETS_UNSUPPORTED', [`${where} names secrets ${fn.secrets.join(', ')}`]);
  const dir = resolve(base, typeof fn.handler === 'string' ? fn.handler : `./${name}`);
  if (!existsSync(dir))
    throw new NimbusError('ERR_STACK_INVALID', [file, `${where}.handler: ${dir} does not exist`]);

  const environment: Record<string, string> = {};
  const files = fn.environment_file === undefined ? [] : fn.environment_file;
  if (!Array.isArray(files))
    throw new NimbusError('ERR_STACK_INVALID', [file, `${where}.environment_file must be a list`]);
  for (const envFile of files) {
    const envPath = resolve(base, String(envFile));
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(envPath, 'utf8'));
    } catch (err) {
      throw new NimbusError('ERR_STACK_INVALID', [
        file,
        `${where}.environment_file ${envFile}: ${(err as Error).message}`,
      ]);
    }
    Object.assign(
      environment,
      stringValues(isMap(parsed) ? parsed.environment : undefined, `${envFile}: environment`, file),
    );
  }
  Object.assign(environment, stringValues(fn.environment, `${where}.environment`, file));

  const { spec: limits, problems } = specFromLimits(isMap(fn.limits) ? fn.limits : undefined);
  if (problems.length > 0)
    throw new NimbusError('ERR_STACK_INVALID', [file, `${where}.${problems.join('; ')}`]);
  const labels = stringValues(fn.labels, `${where}.labels`, file);
  const annotations = stringValues(fn.annotations, `${where}.annotations`, file);
  if (typeof fn.image === 'string' && fn.image !== '') annotations[IMAGE_ANNOTATION] = fn.image;

  // Nimbus's keys beside OpenFaaS's: checked by the spec schema (an unknown key is named there).
  const own: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fn)) if (!OPENFAAS_KEYS.has(key)) own[key] = value;
  const folder = lang === 'nimbus' ? folderSpec(dir) : {};
  const spec: FunctionSpecInput = {
    ...folder,
    ...template,
    ...specFromWatchdogEnv(environment),
    ...limits,
    environment: { ...(folder.environment ?? {}), ...environment },
    labels: { ...(folder.labels ?? {}), ...labels },
    ...(Object.keys(annotations).length > 0
      ? { annotations: { ...(folder.annotations ?? {}), ...annotations } }
      : {}),
    ...(own as FunctionSpecInput),
  };
  return { name, lang, dir, spec };
}

function folderSpec(dir: string): FunctionSpecInput {
  const { name: _ignored, ...spec } = readFunctionSpec(dir);
  return spec;
}

/** Builds one stack function's bundle. */
export async function buildStackFunction(
  fn: StackFunction,
  options: CopyBuildOptions = {},
): Promise<BuiltFunction> {
  if (fn.spec.runtime === 'node' && fn.lang !== 'nimbus') checkNodeModules(fn.dir);
  return buildFunction(fn.dir, { ...options, name: fn.name, spec: fn.spec });
}

/** The templates run `npm install` in their image; Nimbus bundles what node_modules holds. */
function checkNodeModules(dir: string): void {
  const pkgPath = join(dir, 'package.json');
  if (!existsSync(pkgPath) || existsSync(join(dir, 'node_modules'))) return;
  let deps: Record<string, unknown> = {};
  try {
    deps =
      (JSON.parse(readFileSync(pkgPath, 'utf8')) as { dependencies?: Record<string, unknown> })
        .dependencies ?? {};
  } catch {}
  if (Object.keys(deps).length > 0)
    throw new NimbusError('ERR_BUILD_FAILED', [
      `${dir}/package.json has dependencies but no node_modules: run \`npm install\` there first (Nimbus bundles them with esbuild)`,
    ]);
}
