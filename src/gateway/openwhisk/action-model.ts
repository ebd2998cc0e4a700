// An OpenWhisk action as a Nimbus function: the PUT body's shape, the spec it becomes (OpenWhisk's own
// settings kept as `openwhisk/*` annotations of the spec), and the action record shown for a function.
import { z } from 'zod';
import type { FunctionSpecInput } from '../../config/function-spec.js';
import { splitFunctionId } from '../../config/namespace.js';
import type { FunctionRecord } from '../../store/store.js';
import { type ActionCode, DEFAULT_KIND } from './action-code.js';
import { type KeyValues, keyValuesSchema, type SequenceDoc } from './ow-store.js';

/** OpenWhisk's defaults for an action created without limits. */
export const OW_DEFAULT_TIMEOUT_MS = 60_000;
export const OW_DEFAULT_MEMORY_MB = 256;
export const OW_DEFAULT_LOGS_MB = 10;
/** Default parameters of one action or trigger, as JSON: at most this many bytes (OpenWhisk's payload limit). */
export const PARAMETERS_LIMIT_BYTES = 1024 * 1024;

/** Where the settings Nimbus has no spec key for are kept. */
export const ANNOTATION = {
  kind: 'openwhisk/kind',
  main: 'openwhisk/main',
  binary: 'openwhisk/binary',
  parameters: 'openwhisk/parameters',
  annotations: 'openwhisk/annotations',
  logs: 'openwhisk/logs',
} as const;

const limitsSchema = z.object({
  /** ms */
  timeout: z.number().int().min(100).max(900_000).optional(),
  /** MB */
  memory: z.number().int().min(32).max(10_240).optional(),
  /** MB of logs: kept and shown (Nimbus keeps the last lines of each function, docs/compat.md). */
  logs: z.number().int().min(0).max(10).optional(),
  concurrency: z.number().int().min(1).max(1000).optional(),
});

const execSchema = z.object({
  kind: z.string().min(1).max(64),
  code: z.string().optional(),
  main: z.string().min(1).max(256).optional(),
  binary: z.boolean().optional(),
  components: z.array(z.string().min(1).max(512)).min(1).max(50).optional(),
  image: z.string().max(512).optional(),
});

/** The body of `PUT …/actions/{name}` (keys OpenWhisk clients send that Nimbus does not use are dropped). */
export const actionPutSchema = z.object({
  exec: execSchema.optional(),
  parameters: keyValuesSchema.optional(),
  annotations: keyValuesSchema.optional(),
  limits: limitsSchema.optional(),
});

export type ActionPut = z.output<typeof actionPutSchema>;
export type ActionLimits = z.output<typeof limitsSchema>;

/** The value of an annotation in a `{key, value}` list. */
export function annotationValue(list: KeyValues, key: string): unknown {
  return list.find((kv) => kv.key === key)?.value;
}

/** A `{key, value}` list as an object (later keys win). */
export function toObject(list: KeyValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list) out[key] = value;
  return out;
}

function parseList(text: string | undefined): KeyValues {
  if (text === undefined) return [];
  try {
    const parsed = keyValuesSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

/** The OpenWhisk settings of a function (defaults for one deployed some other way). */
export function actionSettings(fn: FunctionRecord): {
  kind: string;
  main: string | undefined;
  binary: boolean;
  parameters: KeyValues;
  annotations: KeyValues;
  limits: Required<ActionLimits>;
} {
  const a = fn.spec.annotations ?? {};
  const runtime = fn.spec.runtime;
  return {
    kind:
      a[ANNOTATION.kind] ??
      (runtime === 'python' ? DEFAULT_KIND.python : runtime === 'node' ? DEFAULT_KIND.node : 'blackbox'),
    main: a[ANNOTATION.main],
    binary: a[ANNOTATION.binary] === 'true',
    parameters: parseList(a[ANNOTATION.parameters]),
    annotations: parseList(a[ANNOTATION.annotations]),
    limits: {
      timeout: fn.spec.timeoutMs,
      memory: fn.spec.memoryMb,
      logs: Number(a[ANNOTATION.logs] ?? OW_DEFAULT_LOGS_MB),
      concurrency: fn.spec.concurrency,
    },
  };
}

/**
 * The spec of an action from a PUT, over `base` (the function it replaces, on an update): Nimbus's own keys
 * (scale, async, network, …) stay as they were. A new action's async calls are not retried: an OpenWhisk
 * activation runs at most once.
 */
export function actionSpec(
  put: ActionPut,
  code: Pick<ActionCode, 'runtime' | 'kind' | 'main' | 'binary' | 'handler'> | undefined,
  base: FunctionRecord | undefined,
): FunctionSpecInput {
  const previous = base ? actionSettings(base) : undefined;
  const baseSpec = base?.spec;
  const {
    runtime: _r,
    handler: _h,
    handlerStyle: baseStyle,
    annotations: baseAnnotations,
    ...kept
  } = baseSpec ?? {};
  const annotations: Record<string, string> = { ...(baseAnnotations ?? {}) };
  const kind = code?.kind ?? previous?.kind;
  if (kind !== undefined) annotations[ANNOTATION.kind] = kind;
  const main = code ? code.main : previous?.main;
  if (main !== undefined && main !== 'main') annotations[ANNOTATION.main] = main;
  else delete annotations[ANNOTATION.main];
  annotations[ANNOTATION.binary] = String(code?.binary ?? previous?.binary ?? false);
  annotations[ANNOTATION.parameters] = JSON.stringify(put.parameters ?? previous?.parameters ?? []);
  annotations[ANNOTATION.annotations] = JSON.stringify(put.annotations ?? previous?.annotations ?? []);
  const logs = put.limits?.logs ?? previous?.limits.logs;
  if (logs !== undefined) annotations[ANNOTATION.logs] = String(logs);
  const runtime = code?.runtime ?? baseSpec?.runtime ?? 'node';
  const handler = code ? code.handler : baseSpec?.handler;
  return {
    ...(baseSpec ? kept : { async: { retries: 0 } }),
    runtime,
    ...(handler ? { handler } : {}),
    // New code is OpenWhisk's; an update of settings alone keeps how the function's code is called.
    ...(code || !baseSpec
      ? { handlerStyle: 'openwhisk' as const }
      : baseStyle
        ? { handlerStyle: baseStyle }
        : {}),
    timeoutMs: put.limits?.timeout ?? baseSpec?.timeoutMs ?? OW_DEFAULT_TIMEOUT_MS,
    memoryMb: put.limits?.memory ?? baseSpec?.memoryMb ?? OW_DEFAULT_MEMORY_MB,
    concurrency: put.limits?.concurrency ?? baseSpec?.concurrency ?? 1,
    annotations,
  };
}

/** OpenWhisk's semantic version of a Nimbus version number. */
export const semver = (version: number): string => `0.0.${version}`;

/** The action record of a function (`code`: its code string, when GET asks for it and there is one). */
export function actionView(
  fn: FunctionRecord,
  namespace: string,
  options: { code?: string | undefined; full: boolean },
): Record<string, unknown> {
  const s = actionSettings(fn);
  const exec: Record<string, unknown> = { kind: s.kind, binary: s.binary };
  if (options.full) {
    if (s.main !== undefined) exec.main = s.main;
    if (options.code !== undefined) exec.code = options.code;
  }
  return {
    namespace,
    name: splitFunctionId(fn.name).name,
    version: semver(fn.version),
    publish: false,
    exec,
    annotations: [...s.annotations.filter((kv) => kv.key !== 'exec'), { key: 'exec', value: s.kind }],
    ...(options.full ? { parameters: s.parameters } : {}),
    limits: s.limits,
    updated: fn.createdAt,
  };
}

/** The action record of a sequence. */
export function sequenceView(
  entity: { namespace: string; name: string; updated: number; doc: SequenceDoc },
  options: { full: boolean },
): Record<string, unknown> {
  const { doc } = entity;
  return {
    namespace: entity.namespace,
    name: entity.name,
    version: semver(doc.version),
    publish: false,
    exec: options.full
      ? { kind: 'sequence', components: doc.components, binary: false }
      : { kind: 'sequence', binary: false },
    annotations: [...doc.annotations.filter((kv) => kv.key !== 'exec'), { key: 'exec', value: 'sequence' }],
    ...(options.full ? { parameters: doc.parameters } : {}),
    limits: doc.limits,
    updated: entity.updated,
  };
}
