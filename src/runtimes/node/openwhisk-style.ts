// The OpenWhisk action style of the Node runner: `function main(params, context)` returning an object (or a
// Promise of one), as OpenWhisk's Node runtime calls it. A call through the OpenWhisk API arrives raw (the
// body is the params, the answer the result's JSON); a plain HTTP call maps the request to params and the
// result to a response as a web action's would (src/gateway/openwhisk/web-http.ts).
import { randomUUID } from 'node:crypto';
import {
  functionAnswer,
  WebInputError,
  WebResultError,
  webParams,
} from '../../gateway/openwhisk/web-http.js';
import type { LoadMessage } from '../../instances/protocol.js';
import { writeAnswer } from './builtin-styles.js';
import { failWith, type HandlerStyle, unwrapDefault } from './handler-style.js';

/** The export a CommonJS code string's appended line sets to its main function (action-code.ts). */
export const NODE_MAIN_EXPORT = '__nimbus_ow_main';
/** Per-call header: when the call must be done (epoch ms), for `__OW_DEADLINE`. */
export const DEADLINE_HEADER = 'x-openwhisk-deadline';

/** What OpenWhisk's Node runtime passes as the second argument. */
export interface OpenWhiskContext {
  functionName: string | undefined;
  functionVersion: string | undefined;
  activationId: string;
  requestId: string;
  deadline: number;
  apiHost: string | undefined;
  apiKey: string;
  namespace: string | undefined;
  getRemainingTimeInMillis(): number;
}

export type OpenWhiskMain = (params: Record<string, unknown>, context: OpenWhiskContext) => unknown;

/** A served call: a response, or the failure the runner reports (an action developer error). */
export type OpenWhiskOutcome =
  | { ok: true; head: string[]; body: Buffer }
  | { ok: false; error: Error; code?: 'invalid_response' };

/**
 * The function OpenWhisk would call: the export named `exportName` (default `main`), in the module or in a
 * CommonJS module's `module.exports`. `forced` (the spec says this style): a missing one throws.
 */
export function pickOpenWhiskMain(
  mod: Record<string, unknown>,
  def: unknown,
  exportName: string | undefined,
  forced: boolean,
): OpenWhiskMain | undefined {
  const name = exportName && exportName !== 'default' ? exportName : 'main';
  const fn =
    mod[name] ?? (def && typeof def === 'object' ? (def as Record<string, unknown>)[name] : undefined);
  if (typeof fn === 'function') return fn as OpenWhiskMain;
  if (!forced) return undefined;
  const shown = name === NODE_MAIN_EXPORT ? 'main (or the exec.main name)' : name;
  throw new Error(
    `Action entrypoint "${shown}" is not a function: define function ${name === NODE_MAIN_EXPORT ? 'main' : name}(params) at the top level or export it (exports.main = main)`,
  );
}

function header(fields: readonly string[], name: string): string | undefined {
  for (let i = 2; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The params of a call: a raw call's JSON body, or a web request's mapping. */
function paramsOf(fields: readonly string[], body: Buffer, raw: boolean): Record<string, unknown> {
  if (raw) {
    const value: unknown = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    if (!value || typeof value !== 'object' || Array.isArray(value))
      throw new WebInputError('the params are not a JSON object');
    return value as Record<string, unknown>;
  }
  const target = fields[1]!;
  const q = target.indexOf('?');
  const headers: Record<string, string> = {};
  for (let i = 2; i < fields.length; i += 2) {
    const name = fields[i]!;
    headers[name] = name in headers ? `${headers[name]}, ${fields[i + 1]}` : fields[i + 1]!;
  }
  return webParams(
    {
      method: fields[0]!,
      headers,
      path: q === -1 ? target : target.slice(0, q),
      query: q === -1 ? '' : target.slice(q + 1),
      body,
    },
    false,
  );
}

/** OpenWhisk's serialize-error: an Error's name, message, stack and own fields; anything else as it is. */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err ?? {};
  const out: Record<string, unknown> = { name: err.name, message: err.message, stack: err.stack };
  for (const [key, value] of Object.entries(err)) out[key] = value;
  return out;
}

/**
 * Calls `main` once. Per-call values go into process.env before the call, as OpenWhisk's runtime sets them
 * (`__OW_ACTIVATION_ID`, `__OW_DEADLINE`): with concurrency above 1 they name the latest call started.
 */
export async function runOpenWhisk(
  main: OpenWhiskMain,
  fields: readonly string[],
  body: Buffer,
  raw: boolean,
  load: Pick<LoadMessage, 'timeoutMs'>,
): Promise<OpenWhiskOutcome> {
  let params: Record<string, unknown>;
  try {
    params = paramsOf(fields, body, raw);
  } catch (err) {
    const message =
      err instanceof WebInputError ? err.message : `the params do not parse: ${(err as Error).message}`;
    return answer(400, { error: message });
  }
  const activationId = header(fields, 'x-call-id') ?? randomUUID().replaceAll('-', '');
  const deadline = Number(header(fields, DEADLINE_HEADER)) || Date.now() + load.timeoutMs;
  process.env.__OW_ACTIVATION_ID = activationId;
  process.env.__OW_DEADLINE = String(deadline);
  const env = process.env;
  const context: OpenWhiskContext = {
    functionName: env.__OW_ACTION_NAME,
    functionVersion: env.__OW_ACTION_VERSION,
    activationId,
    requestId: activationId,
    deadline,
    apiHost: env.__OW_API_HOST,
    apiKey: env.__OW_API_KEY ?? '',
    namespace: env.__OW_NAMESPACE,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  let returned: unknown;
  try {
    returned = main(params, context);
  } catch (err) {
    // A throw (not a rejection) is OpenWhisk's "action developer error".
    return {
      ok: false,
      error: err instanceof Error ? err : new Error(`An error has occurred: ${String(err)}`),
    };
  }
  let result: unknown;
  try {
    result = await returned;
  } catch (err) {
    // A rejection is an application error, its reason serialized as `error`.
    result = { error: serializeError(err) };
  }
  if (result === undefined) result = {};
  if (result === null || typeof result !== 'object')
    return {
      ok: false,
      error: new Error('The action did not return a dictionary.'),
      code: 'invalid_response',
    };
  let text: string;
  try {
    text = JSON.stringify(result);
  } catch (err) {
    return {
      ok: false,
      error: new Error(`The action did not return a JSON dictionary: ${(err as Error).message}`),
      code: 'invalid_response',
    };
  }
  if (raw) return { ok: true, head: ['200', 'content-type', 'application/json'], body: Buffer.from(text) };
  try {
    const web = functionAnswer(JSON.parse(text) as Record<string, unknown>);
    return { ok: true, head: [String(web.status), ...web.headers.flat()], body: Buffer.from(web.body) };
  } catch (err) {
    if (!(err instanceof WebResultError)) throw err;
    return {
      ok: false,
      error: new Error(`The action did not return a valid HTTP response: ${err.message}`),
      code: 'invalid_response',
    };
  }
}

function answer(status: number, value: unknown): OpenWhiskOutcome {
  return {
    ok: true,
    head: [String(status), 'content-type', 'application/json'],
    body: Buffer.from(JSON.stringify(value)),
  };
}

/** The style in the runner's list: picked last, when a module exports `main` and no other style's handler. */
export const openwhiskStyle: HandlerStyle = {
  name: 'openwhisk',
  pick(mod, exportName, forced) {
    return pickOpenWhiskMain(mod, unwrapDefault(mod.default), exportName, forced);
  },
  handle(handler, stream, load) {
    void stream.wholeBody().then(async (body) => {
      const outcome = await runOpenWhisk(handler as OpenWhiskMain, stream.fields, body, stream.raw, load);
      if (!stream.open) return;
      if (outcome.ok) writeAnswer(stream, outcome);
      else failWith(stream, outcome.error, outcome.code);
    });
  },
};
