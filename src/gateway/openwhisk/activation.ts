// Activation records: what one call of an action did, told from Nimbus's answer (the result, or the
// platform error: timeout, crash, a throw), with its log lines; and the record as the REST API shows it.
import type { BufferedResponse } from '../../dispatch/invoke.js';
import type { NimbusError } from '../../errors.js';
import type { LogEntry } from '../../logs/log-store.js';
import type { Activation, ActivationResponse, KeyValues } from './ow-store.js';

/** `response.status` of each statusCode. */
export const STATUS_TEXT = [
  'success',
  'application error',
  'action developer error',
  'whisk internal error',
] as const;

/** Log lines kept in one activation record. */
export const MAX_ACTIVATION_LOG_LINES = 1000;

/** An OpenWhisk log line: `2024-05-01T10:00:00.000Z stdout: text`. */
export function logLine(entry: Pick<LogEntry, 'time' | 'stream' | 'text'>): string {
  return `${new Date(entry.time).toISOString()} ${entry.stream}: ${entry.text}`;
}

/** The errors that are not a result: the caller gets them as HTTP errors, and no activation is made. */
const REFUSALS = new Set([
  'ERR_FUNCTION_NOT_FOUND',
  'ERR_QUEUE_FULL',
  'ERR_CAPACITY_EXHAUSTED',
  'ERR_PLATFORM_SHUTTING_DOWN',
]);

/** Whether a failed call never ran (a refusal to answer as an HTTP error, not an activation). */
export function isRefusal(error: NimbusError | undefined): error is NimbusError {
  return error !== undefined && REFUSALS.has(error.code);
}

/**
 * What a call did, as OpenWhisk says it. The runner answers an OpenWhisk-style action's result as JSON
 * (`error` in it makes an application error); a throw, a result that is no dictionary, a timeout or a crash
 * is an action developer error. A function in another style: a JSON object is the result, a status of 400
 * or more an application error.
 */
export function responseOf(
  status: number,
  body: Buffer,
  error: NimbusError | undefined,
  timeoutMs: number,
): {
  response: ActivationResponse;
  timedOut: boolean;
} {
  if (error) {
    const developer = (message: string): ActivationResponse => ({
      statusCode: 2,
      result: { error: message },
    });
    switch (error.code) {
      case 'ERR_HANDLER_TIMEOUT':
        return {
          response: developer(`The action exceeded its time limits of ${timeoutMs} milliseconds.`),
          timedOut: true,
        };
      case 'ERR_HANDLER_FAILED': {
        const cause = (error.cause ?? {}) as { message?: string; stack?: string };
        const first = cause.stack?.split('\n')[0] ?? cause.message ?? error.message;
        return { response: developer(`An error has occurred: ${first}`), timedOut: false };
      }
      case 'ERR_HANDLER_INVALID_RESPONSE': {
        return { response: developer(String(error.args[1] ?? error.message)), timedOut: false };
      }
      case 'ERR_INSTANCE_CRASHED':
      case 'ERR_INSTANCE_OOM':
        return {
          response: developer(
            `The action did not produce a valid response and exited unexpectedly: ${error.message}`,
          ),
          timedOut: false,
        };
      case 'ERR_FUNCTION_UNAVAILABLE':
      case 'ERR_FUNCTION_LOAD_FAILED':
        return { response: developer(`Initialization has failed due to: ${error.message}`), timedOut: false };
      default:
        return { response: { statusCode: 3, result: { error: error.message } }, timedOut: false };
    }
  }
  let value: unknown;
  try {
    value = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    value = undefined;
  }
  if (status >= 400) {
    const result =
      value && typeof value === 'object' && !Array.isArray(value) && 'error' in value
        ? value
        : { error: value ?? body.toString('utf8').slice(0, 65_536) };
    return { response: { statusCode: 1, result }, timedOut: false };
  }
  if (!value || typeof value !== 'object') {
    return {
      response: { statusCode: 2, result: { error: 'The action did not produce a valid JSON response.' } },
      timedOut: false,
    };
  }
  const failed = !Array.isArray(value) && Object.hasOwn(value, 'error');
  return { response: { statusCode: failed ? 1 : 0, result: value }, timedOut: false };
}

export interface ActivationFacts {
  activationId: string;
  namespace: string;
  name: string;
  version: string;
  kind: string;
  limits: Record<string, number | undefined>;
  start: number;
  end: number;
  waitMs: number;
  response: BufferedResponse | { status: number; body: Buffer; error?: NimbusError | undefined };
  timeoutMs: number;
  logs: string[];
  cause?: string | undefined;
  extraAnnotations?: KeyValues | undefined;
}

/** The activation record of a call that ran. */
export function activationOf(f: ActivationFacts): Activation {
  const { response, timedOut } = responseOf(
    f.response.status,
    f.response.body,
    f.response.error,
    f.timeoutMs,
  );
  const annotations: KeyValues = [
    { key: 'path', value: `${f.namespace}/${f.name}` },
    { key: 'waitTime', value: Math.round(f.waitMs) },
    { key: 'kind', value: f.kind },
    { key: 'timeout', value: timedOut },
    { key: 'limits', value: f.limits },
    ...(f.extraAnnotations ?? []),
  ];
  return {
    activationId: f.activationId,
    namespace: f.namespace,
    name: f.name,
    start: f.start,
    end: f.end,
    response,
    logs: f.logs.slice(-MAX_ACTIVATION_LOG_LINES),
    annotations,
    version: f.version,
    ...(f.cause ? { cause: f.cause } : {}),
  };
}

/** The result part of a record (`/result`): `{result, success, status}`. */
export function resultView(a: Activation): Record<string, unknown> {
  const code = a.response.statusCode;
  return { result: a.response.result, success: code === 0, status: STATUS_TEXT[code], statusCode: code };
}

/** The record as the REST API shows it; `full: false` (lists) leaves out the result and the logs. */
export function activationView(a: Activation, full: boolean): Record<string, unknown> {
  const code = a.response.statusCode;
  const response: Record<string, unknown> = {
    status: STATUS_TEXT[code],
    statusCode: code,
    success: code === 0,
  };
  if (full) {
    response.result = a.response.result;
    response.size = Buffer.byteLength(JSON.stringify(a.response.result ?? null));
  }
  return {
    namespace: a.namespace,
    name: a.name,
    subject: a.namespace,
    activationId: a.activationId,
    start: a.start,
    end: a.end,
    duration: Math.max(0, a.end - a.start),
    statusCode: code,
    response,
    logs: full ? a.logs : [],
    annotations: a.annotations,
    publish: false,
    version: a.version,
    ...(a.cause ? { cause: a.cause } : {}),
  };
}
