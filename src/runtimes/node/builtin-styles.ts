// The Node runner's built-in handler styles: Web-standard fetch, Lambda (callbacks and context.succeed, with
// response streaming and raw Invoke events) and the OpenFaaS node templates' (event, context). What each
// recognises is in pick-handler.ts and docs/functions.md.
import { isUtf8 } from 'node:buffer';
import type { LoadMessage } from '../../instances/protocol.js';
import type { RunnerStream } from '../gateway-link.js';
import { describe, failWith, type HandlerStyle, unwrapDefault } from './handler-style.js';
import { callLambda } from './lambda-call.js';
import { isStreamingHandler, ResponseStream } from './lambda-streaming.js';
import {
  fromLambdaResult,
  type LambdaFunctionInfo,
  lambdaContext,
  lambdaFunctionInfo,
  toLambdaEvent,
} from './lambda-style.js';
import { cancelRequest, lightRequest, plainResponse } from './light-web.js';
import { type OpenFaaSHandler, pickOpenFaaSHandler, runOpenFaaS } from './openfaas-style.js';
import {
  type AnyHandler,
  defaultFunctionOf,
  isNodeHttpApp,
  nodeHttpAppError,
  noExportError,
} from './pick-handler.js';
import { rawError, rawEvent, rawResult } from './raw-event.js';

type FetchHandler = (request: Request, env?: unknown, ctx?: unknown) => unknown;
type LambdaHandler = (
  event: unknown,
  context: unknown,
  callback?: (err: unknown, result?: unknown) => void,
) => unknown;

/** What a fetch handler gets as `ctx` (Cloudflare's ExecutionContext): nothing to wait for here. */
class ExecutionContext {
  waitUntil(): void {}
  passThroughOnException(): void {}
}

// ---- fetch -----------------------------------------------------------------------------------------

export const fetchStyle: HandlerStyle = {
  name: 'fetch',
  pick(mod, exportName, forced) {
    const def = unwrapDefault(mod.default);
    // `handler: app.app` may name an object with a fetch method (a Hono app under another name).
    const value =
      exportName && exportName !== 'default' ? (mod[exportName] ?? ownProperty(def, exportName)) : def;
    if (hasFetch(value)) {
      const obj = value as { fetch: FetchHandler };
      return ((req, env, ctx) => obj.fetch(req, env, ctx)) satisfies FetchHandler;
    }
    if (exportName && exportName !== 'default') {
      if (forced && typeof value === 'function') return value;
      if (forced) throw noExportError(mod, exportName);
      return undefined;
    }
    if (isNodeHttpApp(def)) throw nodeHttpAppError();
    if (typeof def === 'function' && forced) return def;
    return defaultFunctionOf(mod, 'fetch');
  },
  handle(handler, stream) {
    void serveFetch(handler as FetchHandler, stream);
  },
};

function requestUrl(fields: string[]): string {
  for (let i = 2; i < fields.length; i += 2) {
    if (fields[i] === 'host') return `http://${fields[i + 1]}${fields[1]}`;
  }
  return `http://localhost${fields[1]}`;
}

async function serveFetch(fn: FetchHandler, stream: RunnerStream): Promise<void> {
  const { fields } = stream;
  try {
    const body = stream.bodyless ? null : stream.bodyStream();
    const request = lightRequest(fields[0]!, requestUrl(fields), fields, body);
    stream.onCancel = () => cancelRequest(request, new Error('request cancelled by the gateway'));
    const response = await fn(request, process.env, new ExecutionContext());
    if (!(response instanceof Response)) {
      stream.fail(
        `a fetch handler must return a Response, got ${describe(response)}`,
        undefined,
        'invalid_response',
      );
      return;
    }
    if (!stream.open) return;
    const plain = plainResponse(response);
    if (plain) {
      const end = plain.body === null || plain.body.length === 0;
      stream.respondHead(plain.head, end);
      if (!end) stream.write(plain.body!, true);
      return;
    }
    await sendResponse(stream, response);
  } catch (err) {
    failWith(stream, err);
  }
}

/** A response read through undici: its head, then its body as the gateway's credit allows. */
async function sendResponse(stream: RunnerStream, response: Response): Promise<void> {
  const head = [String(response.status)];
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') head.push(name, value);
  });
  for (const cookie of response.headers.getSetCookie()) head.push('set-cookie', cookie);
  if (!response.body) {
    stream.respondHead(head, true);
    return;
  }
  stream.respondHead(head, false);
  const reader = response.body.getReader();
  stream.onCancel = () => void reader.cancel().catch(() => {});
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (!stream.open) return;
      if (done) break;
      // Past the window the handler's stream is not read further: its writes block until credit comes.
      if (value.length > 0 && !stream.write(value)) await stream.writable();
    }
    stream.end();
  } catch (err) {
    failWith(stream, err);
  }
}

// ---- lambda ----------------------------------------------------------------------------------------

export const lambdaStyle: HandlerStyle = {
  name: 'lambda',
  pick(mod, exportName, forced) {
    const def = unwrapDefault(mod.default);
    if (exportName && exportName !== 'default') {
      const fn = mod[exportName] ?? ownProperty(def, exportName);
      if (typeof fn !== 'function') throw noExportError(mod, exportName);
      return fn;
    }
    const handler = mod.handler ?? ownProperty(def, 'handler');
    if (typeof handler === 'function') return handler;
    // `export default (event, context, callback)`: a Lambda callback handler.
    const callback = defaultFunctionOf(mod, 'lambda');
    if (callback) return callback;
    if (forced && typeof def === 'function') return def;
    if (forced)
      throw new Error('no Lambda handler found: export const handler = async (event, context) => result');
    return undefined;
  },
  handle(handler, stream, load) {
    // The deadline counts from the request's arrival, as the gateway's timer does.
    const deadline = Date.now() + load.timeoutMs;
    void stream
      .wholeBody()
      .then((body) => serveLambda(handler as LambdaHandler, stream, body, load, deadline));
  },
};

function isTextBody(contentType: string | undefined, body: Buffer): boolean {
  if (!contentType) return isUtf8(body);
  return /^text\/|json|xml|javascript|x-www-form-urlencoded|yaml|csv/i.test(contentType);
}

/** The function's part of every Lambda context: the same for every call of one instance. */
let functionInfo: { load: LoadMessage; info: LambdaFunctionInfo } | undefined;

async function serveLambda(
  fn: LambdaHandler,
  stream: RunnerStream,
  body: Buffer,
  load: LoadMessage,
  deadline: number,
): Promise<void> {
  if (!stream.open) return;
  try {
    const event = stream.raw ? rawEvent(body) : toLambdaEvent(stream.fields, body, isTextBody);
    if (functionInfo?.load !== load) functionInfo = { load, info: lambdaFunctionInfo(load, process.env) };
    const context = lambdaContext(functionInfo.info, stream.fields, deadline);
    if (isStreamingHandler(fn)) {
      await serveLambdaStreaming(fn, stream, event, context);
      return;
    }
    const result = await callLambda(fn as AnyHandler, event, context);
    if (!stream.open) return;
    writeAnswer(stream, stream.raw ? rawResult(result) : fromLambdaResult(result));
  } catch (err) {
    if (stream.raw && stream.open && !stream.headSent) writeAnswer(stream, rawError(err));
    else failWith(stream, err);
  }
}

/** A handler wrapped in `awslambda.streamifyResponse`: what it writes goes out as the credit allows. */
async function serveLambdaStreaming(
  fn: LambdaHandler,
  stream: RunnerStream,
  event: unknown,
  context: unknown,
): Promise<void> {
  const responseStream = new ResponseStream({
    head: (status, headers, end) => stream.respondHead([String(status), ...headers], end),
    body: (chunk, end) => stream.write(chunk, end),
    writable: () => stream.writable(),
  });
  stream.onCancel = () => responseStream.destroy();
  try {
    const handler = fn as unknown as (event: unknown, stream: ResponseStream, context: unknown) => unknown;
    await handler(event, responseStream, context);
    // A handler may return without ending its stream: the response ends with it, as in Lambda.
    if (!responseStream.writableEnded) responseStream.end();
  } catch (err) {
    responseStream.destroy();
    if (stream.raw && !responseStream.headSent && stream.open) writeAnswer(stream, rawError(err));
    else failWith(stream, err);
  }
}

/** A whole response: its head, then its body when there is one. */
export function writeAnswer(stream: RunnerStream, answer: { head: string[]; body: Buffer }): void {
  const end = answer.body.length === 0;
  stream.respondHead(answer.head, end);
  if (!end) stream.write(answer.body, true);
}

// ---- openfaas --------------------------------------------------------------------------------------

export const openfaasStyle: HandlerStyle = {
  name: 'openfaas',
  pick(mod, _exportName, forced) {
    if (forced) return pickOpenFaaSHandler(mod, unwrapDefault(mod.default));
    // `module.exports = async (event, context)`: told from a fetch handler by its parameters.
    return defaultFunctionOf(mod, 'openfaas');
  },
  handle(handler, stream) {
    void stream.wholeBody().then(async (body) => {
      if (!stream.open) return;
      const answer = await runOpenFaaS(
        handler as OpenFaaSHandler,
        stream.fields,
        body,
        process.env.RAW_BODY === 'true',
      );
      if (stream.open) writeAnswer(stream, answer);
    });
  },
};

function hasFetch(value: unknown): boolean {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { fetch?: unknown }).fetch === 'function'
  );
}

function ownProperty(value: unknown, name: string): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  return Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}
