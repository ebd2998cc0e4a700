// An OpenFaaS stack file (stack.yml) read as Nimbus functions: each entry's `lang` picks how its handler
// folder is built natively (no Docker, no template download), and OpenFaaS's keys (environment, labels,
// annotations, limits, ...) become spec keys. Nimbus's own keys may sit beside them and win. An entry
// Nimbus cannot build (`lang: dockerfile`, ...) is skipped with a warning; the rest deploy.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { FunctionSpecInput } from '../config/function-spec.js';
import {
  IMAGE_ANNOTATION,
  OPENFAAS_NAMESPACE,
  specFromLimits,
  specFromWatchdogEnv,
} from '../config/openfaas.js';
import { NimbusError } from '../errors.js';
import { type BuildOptions, type BuiltFunction, buildFunction, readFunctionSpec } from './build.js';
import type { CopyBuildOptions } from './copy-build.js';

/** The classic python3 template's index.py, as Nimbus writes it: the watchdog runs it once per request. */
const CLASSIC_PYTHON_INDEX = `# OpenFaaS's classic python3 template as Nimbus runs it (runtime exec, one process per request):
# the request body arrives on stdin; what handler.handle(req) returns is printed as the response.
import sys

from function import handler

if __name__ == "__main__":
    ret = handler.handle(sys.stdin.read())
    if ret is not None:
        print(ret)
`;

/** The templates Nimbus builds natively, and the spec each one stands for. */
export const STACK_LANGS: Readonly<Record<string, FunctionSpecInput>> = {
  node22: { runtime: 'node', handler: 'handler', handlerStyle: 'openfaas' },
  node20: { runtime: 'node', handler: 'handler', handlerStyle: 'openfaas' },
  node18: { runtime: 'node', handler: 'handler', handlerStyle: 'openfaas' },
  'python3-http': { runtime: 'python', handler: 'handler.handle', handlerStyle: 'openfaas' },
  'python3-http-debian': { runtime: 'python', handler: 'handler.handle', handlerStyle: 'openfaas' },
  // The classic watchdog's templates: a process per request, body on stdin, stdout the response.
  python3: { runtime: 'exec', command: 'python3 index.py' },
  'python3-debian': { runtime: 'exec', command: 'python3 index.py' },
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

/** How a template lays out the bundle, when not as the handler folder itself. */
const STACK_LAYOUTS: Readonly<Record<string, Pick<CopyBuildOptions, 'into' | 'templateFiles'>>> = {
  python3: { into: 'function', templateFiles: { 'index.py': CLASSIC_PYTHON_INDEX } },
  'python3-debian': { into: 'function', templateFiles: { 'index.py': CLASSIC_PYTHON_INDEX } },
};

export interface StackFunction {
  name: string;
  lang: string;
  /** The handler folder (absolute). */
  dir: string;
  spec: FunctionSpecInput;
  /** The template's bundle layout (the classic python3 template: the folder under function/, index.py beside). */
  layout?: Pick<CopyBuildOptions, 'into' | 'templateFiles'>;
}

export interface ReadStackOptions {
  /** Keep only the functions named (all when empty); naming one Nimbus cannot build is an error. */
  only?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Told of every entry skipped and every key ignored. Default: none. */
  warn?: (message: string) => void;
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

/**
 * Reads and checks a stack file. An entry whose lang Nimbus cannot build is skipped (told to `warn`) unless
 * it is named in `only`, or every entry is such: then ERR_STACK_LANG_UNSUPPORTED.
 */
export function readStack(file: string, options: ReadStackOptions = {}): StackFunction[] {
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
  let firstSkip: NimbusError | undefined;
  for (const [name, raw] of Object.entries(doc.functions)) {
    if (only.length > 0 && !only.includes(name)) continue;
    if (!isMap(raw))
      throw new NimbusError('ERR_STACK_INVALID', [file, `functions.${name} must be a mapping`]);
    const lang = raw.lang === undefined ? 'nimbus' : String(raw.lang);
    if (!STACK_LANGS[lang]) {
      const err = new NimbusError('ERR_STACK_LANG_UNSUPPORTED', [
        name,
        lang,
        Object.keys(STACK_LANGS).join(', '),
      ]);
      if (only.includes(name)) throw err;
      firstSkip ??= err;
      options.warn?.(
        `skipping function "${name}": lang "${lang}" cannot be built without Docker; the others deploy`,
      );
      continue;
    }
    out.push(stackFunction(name, raw, base, file));
  }
  if (out.length === 0 && firstSkip) throw firstSkip;
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
  if (fn.secrets !== undefined && fn.secrets !== null && !Array.isArray(fn.secrets))
    throw new NimbusError('ERR_STACK_INVALID', [file, `${where}.secrets must be a list of secret names`]);
  const secrets = Array.isArray(fn.secrets) ? fn.secrets.map(String) : [];
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
    ...(secrets.length > 0 ? { secrets } : {}),
    ...(own as FunctionSpecInput),
  };
  const layout = STACK_LAYOUTS[lang];
  return { name, lang, dir, spec, ...(layout ? { layout } : {}) };
}

function folderSpec(dir: string): FunctionSpecInput {
  const { name: _ignored, ...spec } = readFunctionSpec(dir);
  return spec;
}

/** Builds one stack function's bundle. */
export async function buildStackFunction(
  fn: StackFunction,
  options: BuildOptions = {},
): Promise<BuiltFunction> {
  return buildFunction(fn.dir, { ...options, ...fn.layout, name: fn.name, spec: fn.spec });
}
