// A Serverless Framework project (serverless.yml, provider aws) read as Nimbus functions: provider
// runtime/environment/memorySize/timeout as defaults, each `functions.<key>` with its handler, and http,
// httpApi and schedule events. Every key Nimbus has no use for is named in a warning and ignored.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { FunctionSpecInput } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import { environmentStrings, functionNameFrom, lambdaRuntimeSpec, scheduleToCron } from './lambda-shapes.js';
import type { ReadStackOptions, StackFunction } from './stack.js';
import { parseCfnYaml } from './yaml-cfn.js';

/** The Framework's defaults (v3 and v4) where a project sets nothing. */
export const SERVERLESS_DEFAULT_MEMORY_MB = 1024;
export const SERVERLESS_DEFAULT_TIMEOUT_S = 6;
const DEFAULT_STAGE = 'dev';
const DEFAULT_REGION = 'us-east-1';

/** Top-level keys read (or that only feed variables). */
const TOP_KEYS = new Set([
  'service',
  'provider',
  'functions',
  'custom',
  'frameworkVersion',
  'params',
  'useDotenv',
]);
const PROVIDER_KEYS = new Set(['name', 'runtime', 'environment', 'memorySize', 'timeout', 'stage', 'region']);
const FUNCTION_KEYS = new Set([
  'handler',
  'runtime',
  'environment',
  'memorySize',
  'timeout',
  'events',
  'name',
  'description',
  'reservedConcurrency',
]);
/** Events that are HTTP requests: Nimbus serves every function at /function/NAME already. */
const HTTP_EVENTS = new Set(['http', 'httpApi']);

export function isServerlessDoc(doc: unknown): boolean {
  return isMap(doc) && 'service' in doc && isMap(doc.provider) && isMap(doc.functions);
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reads serverless.yml; skipped functions (an image, a runtime Nimbus cannot build) are told to `warn`. */
export function readServerless(file: string, options: ReadStackOptions = {}): StackFunction[] {
  const path = resolve(file);
  if (!existsSync(path)) throw new NimbusError('ERR_STACK_INVALID', [file, 'the file does not exist']);
  let raw: unknown;
  try {
    raw = parseCfnYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NimbusError('ERR_STACK_INVALID', [file, `not valid YAML: ${(err as Error).message}`]);
  }
  if (!isServerlessDoc(raw))
    throw new NimbusError('ERR_STACK_INVALID', [
      file,
      'a serverless.yml needs "service", "provider" and "functions"',
    ]);
  const warn = options.warn ?? (() => {});
  const doc = resolveVariables(raw as Record<string, unknown>, options.env ?? process.env, warn);
  const provider = doc.provider as Record<string, unknown>;
  if (provider.name !== 'aws')
    throw new NimbusError('ERR_STACK_INVALID', [
      file,
      `provider.name is "${String(provider.name)}"; Nimbus reads projects for the aws provider`,
    ]);
  ignored(doc, TOP_KEYS, '', warn);
  ignored(provider, PROVIDER_KEYS, 'provider', warn);
  const functions = doc.functions as Record<string, unknown>;
  const only = options.only ?? [];
  for (const name of only) {
    if (![...Object.keys(functions)].some((key) => key === name || functionNameFrom(key) === name))
      throw new NimbusError('ERR_STACK_INVALID', [file, `it has no function "${name}"`]);
  }
  const base = dirname(path);
  const providerEnv = environmentStrings(provider.environment, 'provider.environment', warn);
  const out: StackFunction[] = [];
  for (const [key, fn] of Object.entries(functions)) {
    const name = functionNameFrom(key);
    if (only.length > 0 && !only.includes(key) && !(name && only.includes(name))) continue;
    const where = `functions.${key}`;
    const skip = (why: string): void => {
      if (only.length > 0) throw new NimbusError('ERR_STACK_INVALID', [file, `${where}: ${why}`]);
      warn(`skipping ${where}: ${why}; the others deploy`);
    };
    if (!isMap(fn)) throw new NimbusError('ERR_STACK_INVALID', [file, `${where} must be a mapping`]);
    if (!name) {
      skip(`"${key}" does not make a function name (lowercase letters, digits and "-")`);
      continue;
    }
    if (fn.image !== undefined) {
      skip('it is a container image');
      continue;
    }
    if (typeof fn.handler !== 'string' || fn.handler === '') {
      skip('it has no handler');
      continue;
    }
    const runtime = String(fn.runtime ?? provider.runtime ?? '');
    if (!runtime) {
      skip("no runtime is set (provider.runtime or the function's runtime)");
      continue;
    }
    const mapped = lambdaRuntimeSpec(runtime, fn.handler);
    if ('unsupported' in mapped) {
      skip(mapped.unsupported);
      continue;
    }
    ignored(fn, FUNCTION_KEYS, where, warn);
    if (name !== key) warn(`${where} deploys as "${name}" (Nimbus names are lowercase DNS labels)`);
    const timeoutS =
      numberOf(fn.timeout ?? provider.timeout, `${where}.timeout`, warn) ?? SERVERLESS_DEFAULT_TIMEOUT_S;
    const memoryMb =
      numberOf(fn.memorySize ?? provider.memorySize, `${where}.memorySize`, warn) ??
      SERVERLESS_DEFAULT_MEMORY_MB;
    const spec: FunctionSpecInput = {
      ...mapped.spec,
      environment: { ...providerEnv, ...environmentStrings(fn.environment, `${where}.environment`, warn) },
      timeoutMs: Math.min(900, Math.max(1, Math.round(timeoutS))) * 1000,
      memoryMb: Math.min(10_240, Math.max(128, Math.round(memoryMb))),
      ...eventsSpec(fn.events, where, warn),
    };
    const reserved = numberOf(fn.reservedConcurrency, `${where}.reservedConcurrency`, warn);
    if (reserved !== undefined && reserved >= 1) spec.scale = { max: Math.min(1000, Math.round(reserved)) };
    out.push({ name, lang: runtime, dir: base, spec });
  }
  if (out.length === 0)
    throw new NimbusError('ERR_STACK_INVALID', [
      file,
      'it has no function Nimbus can build (see the warnings)',
    ]);
  return out;
}

function numberOf(value: unknown, where: string, warn: (m: string) => void): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n === 'number' && Number.isFinite(n)) return n;
  warn(`${where} is not a number; the default applies`);
  return undefined;
}

function ignored(
  map: Record<string, unknown>,
  known: Set<string>,
  where: string,
  warn: (m: string) => void,
): void {
  const keys = Object.keys(map).filter((k) => !known.has(k));
  if (keys.length > 0)
    warn(`${where ? `${where}: ` : ''}ignored (Nimbus has no use for them): ${keys.join(', ')}`);
}

/** http and httpApi events need nothing (every function is served at /function/NAME); schedule sets `schedule`. */
function eventsSpec(events: unknown, where: string, warn: (m: string) => void): Partial<FunctionSpecInput> {
  if (events === undefined || events === null) return {};
  if (!Array.isArray(events)) {
    warn(`${where}.events is not a list; ignored`);
    return {};
  }
  const out: Partial<FunctionSpecInput> = {};
  for (const event of events) {
    const [type] = isMap(event) ? Object.keys(event) : [];
    if (!type) continue;
    if (HTTP_EVENTS.has(type)) continue;
    if (type !== 'schedule') {
      warn(`${where}.events: ${type} events are not wired by Nimbus; ignored`);
      continue;
    }
    const value = (event as Record<string, unknown>).schedule;
    const settings = isMap(value) ? value : { rate: value };
    if (settings.enabled === false) continue;
    const rates = Array.isArray(settings.rate) ? settings.rate : [settings.rate];
    const cron = typeof rates[0] === 'string' ? scheduleToCron(rates[0]) : undefined;
    if (!cron) {
      warn(`${where}.events: schedule ${JSON.stringify(settings.rate)} has no cron equivalent; ignored`);
      continue;
    }
    if (out.schedule) {
      warn(
        `${where}.events: Nimbus runs one schedule per function; ${JSON.stringify(settings.rate)} ignored`,
      );
      continue;
    }
    out.schedule = cron;
    if (settings.input !== undefined) out.payload = settings.input as FunctionSpecInput['payload'];
  }
  return out;
}

/**
 * The Framework's `${source:address, fallback}` variables, for the sources that mean something here:
 * `self:` (this file), `env:`, `opt:` (no command-line options: the fallback), `sls:stage`
 * (provider.stage, else dev), `aws:region` (provider.region, else us-east-1). Others (ssm:, cf:, s3:, file(...)) take their fallback, or stay as written
 * with a warning.
 */
function resolveVariables(
  doc: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  warn: (m: string) => void,
): Record<string, unknown> {
  const warned = new Set<string>();
  const lookup = (expression: string, depth: number): unknown => {
    const parts = splitTopLevel(expression);
    for (const part of parts) {
      const value = source(part.trim(), depth);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const source = (ref: string, depth: number): unknown => {
    const literal = /^(['"])(.*)\1$/.exec(ref);
    if (literal) return literal[2];
    if (/^-?\d+(\.\d+)?$/.test(ref)) return Number(ref);
    if (ref.startsWith('self:')) return resolveValue(pathIn(doc, ref.slice(5)), depth + 1);
    if (ref.startsWith('env:')) {
      const value = env[ref.slice(4)];
      return value === undefined || value === '' ? undefined : value;
    }
    // No command-line options here: `${opt:stage, 'dev'}` takes its fallback.
    if (ref.startsWith('opt:')) return undefined;
    if (ref === 'sls:stage') return resolveValue(pathIn(doc, 'provider.stage'), depth + 1) ?? DEFAULT_STAGE;
    if (ref === 'aws:region')
      return resolveValue(pathIn(doc, 'provider.region'), depth + 1) ?? DEFAULT_REGION;
    if (ref.startsWith('sls:instanceId')) return 'nimbus';
    // ${AWS::Region}, ${Param}: CloudFormation's own substitutions, not the Framework's.
    if (!/^[a-z]+[:(]/.test(ref) || ref.startsWith('AWS::')) return undefined;
    if (!warned.has(ref)) {
      warned.add(ref);
      warn(`the variable \${${ref}} has no value in Nimbus; give it a fallback (\${${ref}, 'value'})`);
    }
    return undefined;
  };
  const resolveValue = (value: unknown, depth: number): unknown => {
    // A variable that refers to itself, in the end.
    if (depth > 20) return undefined;
    if (typeof value === 'string') {
      const whole = /^\$\{([^{}]+)\}$/.exec(value);
      if (whole) return lookup(whole[1]!, depth);
      return value.replace(/\$\{([^{}]+)\}/g, (match, expression: string) => {
        const resolved = lookup(expression, depth);
        return resolved === undefined ? match : String(resolved);
      });
    }
    if (Array.isArray(value)) return value.map((v) => resolveValue(v, depth + 1));
    if (isMap(value))
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, depth + 1)]));
    return value;
  };
  // Only the parts Nimbus reads: `resources:` is CloudFormation, with its own ${...}.
  return Object.fromEntries(
    Object.entries(doc).map(([k, v]) => [k, TOP_KEYS.has(k) ? resolveValue(v, 0) : v]),
  );
}

/** `a, 'b, c'` → [`a`, ` 'b, c'`]: commas outside quotes separate a variable from its fallbacks. */
function splitTopLevel(expression: string): string[] {
  const out: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (const c of expression) {
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ',') {
      out.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  out.push(current);
  return out;
}

function pathIn(doc: Record<string, unknown>, path: string): unknown {
  let value: unknown = doc;
  for (const key of path.split('.').filter(Boolean)) {
    if (!isMap(value)) return undefined;
    value = value[key];
  }
  return value;
}
