// An AWS SAM template (template.yaml) read as Nimbus functions: each `AWS::Serverless::Function` with its
// CodeUri, Handler, Runtime, Environment, MemorySize, Timeout and schedule events, over `Globals.Function`.
// `!Ref` of a parameter takes its Default; every other resource and key is named in a warning and ignored.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { FunctionSpecInput } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import { environmentStrings, functionNameFrom, lambdaRuntimeSpec, scheduleToCron } from './lambda-shapes.js';
import type { ReadStackOptions, StackFunction } from './stack.js';
import { isIntrinsic, parseCfnYaml } from './yaml-cfn.js';

/** Lambda's defaults, which SAM keeps. */
export const SAM_DEFAULT_MEMORY_MB = 128;
export const SAM_DEFAULT_TIMEOUT_S = 3;
export const SERVERLESS_FUNCTION = 'AWS::Serverless::Function';
/** Pseudo parameters a `!Ref` or `!Sub` may name, with the value Nimbus gives them. */
const PSEUDO: Readonly<Record<string, string>> = {
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '000000000000',
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::NoValue': '',
};
const PROPERTY_KEYS = new Set([
  'CodeUri',
  'Handler',
  'Runtime',
  'Environment',
  'MemorySize',
  'Timeout',
  'Events',
  'FunctionName',
  'ReservedConcurrentExecutions',
  'Description',
]);
/** Events that are HTTP requests: Nimbus serves every function at /function/NAME already. */
const HTTP_EVENTS = new Set(['Api', 'HttpApi']);

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function isSamDoc(doc: unknown): boolean {
  if (!isMap(doc) || !isMap(doc.Resources)) return false;
  const transform = Array.isArray(doc.Transform) ? doc.Transform : [doc.Transform];
  return (
    transform.some((t) => typeof t === 'string' && t.startsWith('AWS::Serverless')) ||
    Object.values(doc.Resources).some((r) => isMap(r) && r.Type === SERVERLESS_FUNCTION)
  );
}

/** Reads a SAM template; skipped functions (an image, inline code, a runtime Nimbus cannot build) go to `warn`. */
export function readSam(file: string, options: ReadStackOptions = {}): StackFunction[] {
  const path = resolve(file);
  if (!existsSync(path)) throw new NimbusError('ERR_STACK_INVALID', [file, 'the file does not exist']);
  let doc: unknown;
  try {
    doc = parseCfnYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NimbusError('ERR_STACK_INVALID', [file, `not valid YAML: ${(err as Error).message}`]);
  }
  if (!isSamDoc(doc))
    throw new NimbusError('ERR_STACK_INVALID', [
      file,
      `a SAM template needs Resources of Type ${SERVERLESS_FUNCTION}`,
    ]);
  const template = doc as Record<string, unknown>;
  const warn = options.warn ?? (() => {});
  const resolveValue = resolver(template, warn);
  const globals =
    isMap(template.Globals) && isMap(template.Globals.Function) ? template.Globals.Function : {};
  const resources = template.Resources as Record<string, unknown>;
  const others = Object.entries(resources)
    .filter(([, r]) => !isMap(r) || r.Type !== SERVERLESS_FUNCTION)
    .map(([id, r]) => `${id} (${isMap(r) ? String(r.Type) : '?'})`);
  if (others.length > 0) warn(`Resources not created by Nimbus (only functions are): ${others.join(', ')}`);
  const only = options.only ?? [];
  const candidates = Object.entries(resources).filter(([, r]) => isMap(r) && r.Type === SERVERLESS_FUNCTION);
  for (const name of only) {
    if (
      !candidates.some(
        ([id, r]) => id === name || nameOf(id, r as Record<string, unknown>, resolveValue) === name,
      )
    )
      throw new NimbusError('ERR_STACK_INVALID', [file, `it has no function "${name}"`]);
  }
  const base = dirname(path);
  const out: StackFunction[] = [];
  for (const [id, resource] of candidates) {
    const r = resource as Record<string, unknown>;
    const name = nameOf(id, r, resolveValue);
    if (only.length > 0 && !only.includes(id) && !(name && only.includes(name))) continue;
    const where = `Resources.${id}`;
    const skip = (why: string): void => {
      if (only.length > 0) throw new NimbusError('ERR_STACK_INVALID', [file, `${where}: ${why}`]);
      warn(`skipping ${where}: ${why}; the others deploy`);
    };
    const own = isMap(r.Properties) ? r.Properties : {};
    const props = merge(globals, own);
    if (!name) {
      skip(`"${id}" does not make a function name (lowercase letters, digits and "-")`);
      continue;
    }
    if (props.PackageType === 'Image' || props.ImageUri !== undefined) {
      skip('it is a container image');
      continue;
    }
    if (props.InlineCode !== undefined) {
      skip('its code is inline (InlineCode); put it in a folder named by CodeUri');
      continue;
    }
    const codeUri = resolveValue(props.CodeUri ?? '.', `${where}.CodeUri`);
    if (typeof codeUri !== 'string' || codeUri.startsWith('s3://')) {
      skip('CodeUri is not a local folder');
      continue;
    }
    const dir = resolve(base, codeUri);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      skip(`CodeUri ${codeUri} is not a folder beside the template`);
      continue;
    }
    const runtime = resolveValue(props.Runtime, `${where}.Runtime`);
    const handler = resolveValue(props.Handler, `${where}.Handler`);
    if (typeof runtime !== 'string') {
      skip('it has no Runtime (on the function or in Globals.Function)');
      continue;
    }
    const mapped = lambdaRuntimeSpec(runtime, typeof handler === 'string' ? handler : undefined);
    if ('unsupported' in mapped) {
      skip(mapped.unsupported);
      continue;
    }
    const ignoredKeys = Object.keys(props).filter((k) => !PROPERTY_KEYS.has(k) && k !== 'PackageType');
    if (ignoredKeys.length > 0)
      warn(`${where}: ignored (Nimbus has no use for them): ${ignoredKeys.join(', ')}`);
    const environment = isMap(props.Environment) ? props.Environment.Variables : undefined;
    const resolvedEnv = isMap(environment)
      ? Object.fromEntries(
          Object.entries(environment)
            .map(([k, v]) => [k, resolveValue(v, `${where}.Environment.Variables.${k}`)])
            .filter(([, v]) => v !== undefined),
        )
      : undefined;
    const timeoutS = numberOf(resolveValue(props.Timeout, `${where}.Timeout`)) ?? SAM_DEFAULT_TIMEOUT_S;
    const memoryMb = numberOf(resolveValue(props.MemorySize, `${where}.MemorySize`)) ?? SAM_DEFAULT_MEMORY_MB;
    const spec: FunctionSpecInput = {
      ...mapped.spec,
      environment: environmentStrings(resolvedEnv, `${where}.Environment.Variables`, warn),
      timeoutMs: Math.min(900, Math.max(1, Math.round(timeoutS))) * 1000,
      memoryMb: Math.min(10_240, Math.max(128, Math.round(memoryMb))),
      ...eventsSpec(props.Events, where, resolveValue, warn),
    };
    const reserved = numberOf(
      resolveValue(props.ReservedConcurrentExecutions, `${where}.ReservedConcurrentExecutions`),
    );
    if (reserved !== undefined && reserved >= 1) spec.scale = { max: Math.min(1000, Math.round(reserved)) };
    out.push({ name, lang: runtime, dir, spec });
  }
  if (out.length === 0)
    throw new NimbusError('ERR_STACK_INVALID', [
      file,
      'it has no function Nimbus can build (see the warnings)',
    ]);
  return out;
}

/** FunctionName when it is a valid Nimbus name, else the logical id made one (`HelloWorldFunction` → `hello-world-function`). */
function nameOf(
  id: string,
  resource: Record<string, unknown>,
  resolveValue: (v: unknown, where: string) => unknown,
): string | undefined {
  const props = isMap(resource.Properties) ? resource.Properties : {};
  const given = props.FunctionName === undefined ? undefined : resolveValue(props.FunctionName, '');
  if (typeof given === 'string') {
    const name = functionNameFrom(given);
    if (name) return name;
  }
  return functionNameFrom(id);
}

/** Globals.Function under a function's Properties: maps merged one level down (Environment.Variables), the rest replaced. */
function merge(globals: Record<string, unknown>, own: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...globals };
  for (const [key, value] of Object.entries(own)) {
    const global = globals[key];
    if (key === 'Environment' && isMap(global) && isMap(value)) {
      const gv = isMap(global.Variables) ? global.Variables : {};
      const ov = isMap(value.Variables) ? value.Variables : {};
      out[key] = { ...global, ...value, Variables: { ...gv, ...ov } };
    } else out[key] = value;
  }
  return out;
}

function numberOf(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Api and HttpApi events need nothing (every function is served at /function/NAME); Schedule sets `schedule`. */
function eventsSpec(
  events: unknown,
  where: string,
  resolveValue: (v: unknown, where: string) => unknown,
  warn: (m: string) => void,
): Partial<FunctionSpecInput> {
  if (!isMap(events)) return {};
  const out: Partial<FunctionSpecInput> = {};
  for (const [id, event] of Object.entries(events)) {
    const type = isMap(event) ? event.Type : undefined;
    if (typeof type === 'string' && HTTP_EVENTS.has(type)) continue;
    if (type !== 'Schedule' && type !== 'ScheduleV2') {
      warn(`${where}.Events.${id}: ${String(type)} events are not wired by Nimbus; ignored`);
      continue;
    }
    const props = isMap((event as Record<string, unknown>).Properties)
      ? ((event as Record<string, unknown>).Properties as Record<string, unknown>)
      : {};
    const expression = resolveValue(props.Schedule ?? props.ScheduleExpression, `${where}.Events.${id}`);
    if (props.Enabled === false || props.State === 'DISABLED') continue;
    const cron = typeof expression === 'string' ? scheduleToCron(expression) : undefined;
    if (!cron) {
      warn(`${where}.Events.${id}: schedule ${JSON.stringify(expression)} has no cron equivalent; ignored`);
      continue;
    }
    if (out.schedule) {
      warn(`${where}.Events.${id}: Nimbus runs one schedule per function; ignored`);
      continue;
    }
    out.schedule = cron;
    if (typeof props.Input === 'string') {
      try {
        out.payload = JSON.parse(props.Input) as FunctionSpecInput['payload'];
      } catch {
        out.payload = props.Input;
      }
    }
  }
  return out;
}

/**
 * Resolves `!Ref` of a parameter (its Default) or a pseudo parameter, and `!Sub` of those; any other
 * intrinsic (GetAtt of a resource, ImportValue, ...) has no value here: the key is dropped with a warning.
 */
function resolver(
  template: Record<string, unknown>,
  warn: (m: string) => void,
): (value: unknown, where: string) => unknown {
  const parameters = isMap(template.Parameters) ? template.Parameters : {};
  const ref = (name: string): string | undefined => {
    if (name in PSEUDO) return PSEUDO[name];
    if (name === 'AWS::StackName') return 'nimbus';
    const param = parameters[name];
    if (isMap(param) && param.Default !== undefined) return String(param.Default);
    return undefined;
  };
  const resolveValue = (value: unknown, where: string): unknown => {
    if (!isIntrinsic(value)) return value;
    const [fn, arg] = Object.entries(value)[0]!;
    if (fn === 'Ref' && typeof arg === 'string') {
      const resolved = ref(arg);
      if (resolved !== undefined) return resolved;
    }
    if (fn === 'Fn::Sub' && typeof arg === 'string') {
      let missing = false;
      const text = arg.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
        const resolved = ref(name.trim());
        if (resolved === undefined) missing = true;
        return resolved ?? '';
      });
      if (!missing) return text;
    }
    if (where) warn(`${where}: ${JSON.stringify(value).slice(0, 80)} has no value outside AWS; ignored`);
    return undefined;
  };
  return resolveValue;
}
