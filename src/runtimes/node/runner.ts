// The Node.js runner: one per instance process. It connects to the gateway's socket, loads one function
// once (Web-standard fetch or Lambda handler style), and serves many requests over the instance protocol.
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  decodeFields,
  FLAG_END,
  FLAG_RAW_EVENT,
  FrameType,
  type LoadMessage,
} from '../../instances/protocol.js';
import { linkToGateway } from '../gateway-link.js';
import { installAwsLambdaGlobal, isStreamingHandler, ResponseStream } from './lambda-streaming.js';
import { fromLambdaResult, lambdaContext, toLambdaEvent } from './lambda-style.js';
import { installLightWeb, lightRequest, plainResponse, warmWebClasses } from './light-web.js';
import { type OpenFaaSHandler, pickOpenFaaSHandler, runOpenFaaS } from './openfaas-style.js';
import { type OpenWhiskMain, pickOpenWhiskMain, runOpenWhisk } from './openwhisk-style.js';
import { rawError, rawEvent, rawResult } from './raw-event.js';

type Style = 'fetch' | 'lambda' | 'openfaas' | 'openwhisk';
type FetchHandler = (request: Request, env?: unknown, ctx?: unknown) => unknown;
type LambdaHandler = (
  event: unknown,
  context: unknown,
  callback?: (err: unknown, result?: unknown) => void,
) => unknown;

interface Stream {
  fields: string[];
  /** Web style: the request body as it arrives. */
  controller?: ReadableStreamDefaultController<Uint8Array>;
  /** Lambda and OpenFaaS styles: body chunks collected until the end. */
  chunks?: Buffer[];
  /** The body is a raw Lambda event (FLAG_RAW_EVENT: the Invoke API), not an HTTP request. */
  raw?: boolean;
  /** Aborts the request's signal (when the handler ever looked at it). */
  cancel: (reason: Error) => void;
}

const streams = new Map<number, Stream>();
let loaded: {
  style: Style;
  fn: FetchHandler | LambdaHandler | OpenFaaSHandler | OpenWhiskMain;
  load: LoadMessage;
} | null = null;

installAwsLambdaGlobal();

const writer = linkToGateway<LoadMessage>('node', {
  load,
  request: onRequest,
  body: onBody,
  cancel: (id) => {
    streams.get(id)?.cancel(new Error('request cancelled by the gateway'));
    streams.delete(id);
  },
  connected: () => {
    installLightWeb();
    warmWebClasses();
  },
});

async function load(message: LoadMessage): Promise<Style> {
  Object.assign(process.env, message.env);
  const [file, exportName] = message.entry.split('#') as [string, string | undefined];
  const mod = (await import(pathToFileURL(join(message.bundleDir, file)).href)) as Record<string, unknown>;
  const picked =
    message.style === 'openfaas'
      ? { style: 'openfaas' as const, fn: pickOpenFaaSHandler(mod, unwrapDefault(mod.default)) }
      : message.style === 'openwhisk'
        ? {
            style: 'openwhisk' as const,
            fn: pickOpenWhiskMain(mod, unwrapDefault(mod.default), exportName, true)!,
          }
        : pickHandler(mod, exportName);
  loaded = { ...picked, load: message };
  return picked.style;
}

/** Detects the handler style from the module's exports. */
function pickHandler(
  mod: Record<string, unknown>,
  exportName: string | undefined,
): { style: Style; fn: FetchHandler | LambdaHandler | OpenWhiskMain } {
  const def = unwrapDefault(mod.default);
  if (exportName && exportName !== 'default') {
    const fn = mod[exportName] ?? (def as Record<string, unknown> | undefined)?.[exportName];
    if (typeof fn !== 'function') throw new Error(`the module has no exported function "${exportName}"`);
    return { style: 'lambda', fn: fn as LambdaHandler };
  }
  if (def && typeof def === 'object' && typeof (def as { fetch?: unknown }).fetch === 'function') {
    const obj = def as { fetch: FetchHandler };
    const fn: FetchHandler = (req, env, ctx) => obj.fetch(req, env, ctx);
    return { style: 'fetch', fn };
  }
  if (typeof def === 'function') return { style: 'fetch', fn: def as FetchHandler };
  const handler = mod.handler ?? (def as Record<string, unknown> | undefined)?.handler;
  if (typeof handler === 'function') return { style: 'lambda', fn: handler as LambdaHandler };
  // OpenWhisk's `main(params)`, only when no other style's export is there.
  const main = pickOpenWhiskMain(mod, def, undefined, false);
  if (main) return { style: 'openwhisk', fn: main };
  // Named functions other than `handler` (CommonJS `exports.hello = …`): say which spec key picks one.
  const named = Object.entries({ ...(def && typeof def === 'object' ? def : {}), ...mod })
    .filter(([key, value]) => key !== 'default' && typeof value === 'function')
    .map(([key]) => key);
  const hint = named.length
    ? `; the module exports ${named.join(', ')}: set handler: file.export in nimbus.yml (such as handler: index.${named[0]})`
    : '';
  throw new Error(
    'no handler found: export default { fetch(request) }, export default async (request) => Response, export const handler = async (event, context) => result, or exports.main = (params) => result (OpenWhisk)' +
      hint,
  );
}

/** A CommonJS module bundled as ESM shows `module.exports` as `default` (sometimes nested once more). */
function unwrapDefault(value: unknown): unknown {
  if (value && typeof value === 'object' && 'default' in value && Object.keys(value).length === 1) {
    return (value as { default: unknown }).default;
  }
  return value;
}

function onRequest(id: number, flags: number, payload: Buffer): void {
  const stream: Stream = { fields: decodeFields(payload), cancel: () => {} };
  streams.set(id, stream);
  if (!loaded) {
    sendError(id, new Error('no function is loaded in this instance'));
    return;
  }
  const ended = (flags & FLAG_END) !== 0;
  if (loaded.style === 'fetch') {
    let body: ReadableStream<Uint8Array> | null = null;
    if (!ended) {
      body = new ReadableStream<Uint8Array>({
        start(controller) {
          stream.controller = controller;
        },
      });
    }
    void runFetch(id, stream, body);
  } else {
    stream.chunks = [];
    stream.raw = (flags & FLAG_RAW_EVENT) !== 0;
    if (ended) void runLambda(id, stream);
  }
}

function onBody(id: number, flags: number, payload: Buffer): void {
  const stream = streams.get(id);
  if (!stream) return;
  const ended = (flags & FLAG_END) !== 0;
  if (stream.controller) {
    // The frame's bytes belong to the socket's read buffer: copy before handing them to user code.
    if (payload.length > 0) stream.controller.enqueue(new Uint8Array(payload));
    if (ended) stream.controller.close();
  } else if (stream.chunks) {
    if (payload.length > 0) stream.chunks.push(Buffer.from(payload));
    if (ended) void runLambda(id, stream);
  }
}

function requestUrl(fields: string[]): string {
  let host = 'localhost';
  for (let i = 2; i < fields.length; i += 2) {
    if (fields[i] === 'host') {
      host = fields[i + 1]!;
      break;
    }
  }
  return `http://${host}${fields[1]}`;
}

async function runFetch(id: number, stream: Stream, body: ReadableStream<Uint8Array> | null): Promise<void> {
  const { fields } = stream;
  try {
    const { request, cancel } = lightRequest({ method: fields[0]!, url: requestUrl(fields), fields, body });
    stream.cancel = cancel;
    const fn = loaded!.fn as FetchHandler;
    const response = await fn(request, process.env, { waitUntil() {}, passThroughOnException() {} });
    if (!(response instanceof Response)) {
      sendError(
        id,
        new Error(`a fetch handler must return a Response, got ${describe(response)}`),
        'invalid_response',
      );
      return;
    }
    if (!streams.has(id)) return;
    const plain = plainResponse(response);
    if (plain) {
      const end = plain.body === null || plain.body.length === 0;
      writer.text(FrameType.RESPONSE, end ? FLAG_END : 0, id, plain.head.join('\0'));
      if (!end) writer.bytes(FrameType.RESPONSE_BODY, FLAG_END, id, plain.body!);
      streams.delete(id);
      return;
    }
    await sendResponse(id, response);
  } catch (err) {
    sendError(id, err);
  }
}

async function sendResponse(id: number, response: Response): Promise<void> {
  const head = [String(response.status)];
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') head.push(name, value);
  });
  for (const cookie of response.headers.getSetCookie()) head.push('set-cookie', cookie);
  if (!response.body) {
    writer.text(FrameType.RESPONSE, FLAG_END, id, head.join('\0'));
    streams.delete(id);
    return;
  }
  writer.text(FrameType.RESPONSE, 0, id, head.join('\0'));
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (!streams.has(id)) {
        await reader.cancel();
        return;
      }
      if (done) break;
      if (value.length > 0) writer.bytes(FrameType.RESPONSE_BODY, 0, id, value);
    }
    writer.bytes(FrameType.RESPONSE_BODY, FLAG_END, id, new Uint8Array(0));
    streams.delete(id);
  } catch (err) {
    sendError(id, err);
  }
}

async function runLambda(id: number, stream: Stream): Promise<void> {
  const { fields } = stream;
  const body = Buffer.concat(stream.chunks ?? []);
  stream.chunks = undefined as unknown as Buffer[];
  if (loaded!.style === 'openwhisk') {
    const outcome = await runOpenWhisk(
      loaded!.fn as OpenWhiskMain,
      fields,
      body,
      stream.raw === true,
      loaded!.load,
    );
    if (!streams.has(id)) return;
    if (outcome.ok) writeAnswer(id, outcome);
    else sendError(id, outcome.error, outcome.code);
    return;
  }
  if (loaded!.style === 'openfaas') {
    const fn = loaded!.fn as OpenFaaSHandler;
    const answer = await runOpenFaaS(fn, fields, body, process.env.RAW_BODY === 'true');
    if (streams.has(id)) writeAnswer(id, answer);
    return;
  }
  try {
    const load = loaded!.load;
    const event = stream.raw ? rawEvent(body) : toLambdaEvent(fields, body, isTextBody);
    const context = lambdaContext(load, fields);
    const fn = loaded!.fn as LambdaHandler;
    if (isStreamingHandler(fn)) {
      await runLambdaStreaming(id, stream, fn, event, context);
      return;
    }
    const result =
      fn.length >= 3
        ? await new Promise((resolve, reject) => {
            const maybe = fn(event, context, (err, value) => (err ? reject(err) : resolve(value)));
            if (maybe && typeof (maybe as Promise<unknown>).then === 'function')
              (maybe as Promise<unknown>).then(resolve, reject);
          })
        : await fn(event, context);
    if (!streams.has(id)) return;
    writeAnswer(id, stream.raw ? rawResult(result) : fromLambdaResult(result));
  } catch (err) {
    if (stream.raw && streams.has(id)) writeAnswer(id, rawError(err));
    else sendError(id, err);
  }
}

/** A handler wrapped in `awslambda.streamifyResponse`: what it writes goes out as it is written. */
async function runLambdaStreaming(
  id: number,
  stream: Stream,
  fn: LambdaHandler,
  event: unknown,
  context: unknown,
): Promise<void> {
  const responseStream = new ResponseStream({
    head: (status, headers, end) => {
      if (!streams.has(id)) return;
      writer.text(FrameType.RESPONSE, end ? FLAG_END : 0, id, [String(status), ...headers].join('\0'));
      if (end) streams.delete(id);
    },
    body: (chunk, end) => {
      if (!streams.has(id)) return;
      writer.bytes(FrameType.RESPONSE_BODY, end ? FLAG_END : 0, id, chunk);
      if (end) streams.delete(id);
    },
  });
  try {
    const handler = fn as unknown as (event: unknown, stream: ResponseStream, context: unknown) => unknown;
    await handler(event, responseStream, context);
    // A handler may return without ending its stream: the response ends with it, as in Lambda.
    if (!responseStream.writableEnded) responseStream.end();
  } catch (err) {
    responseStream.destroy();
    if (stream.raw && !responseStream.headSent && streams.has(id)) writeAnswer(id, rawError(err));
    else sendError(id, err);
  }
}

/** A whole response: its head, then its body when there is one. */
function writeAnswer(id: number, answer: { head: string[]; body: Buffer }): void {
  writer.text(FrameType.RESPONSE, answer.body.length === 0 ? FLAG_END : 0, id, answer.head.join('\0'));
  if (answer.body.length > 0) writer.bytes(FrameType.RESPONSE_BODY, FLAG_END, id, answer.body);
  streams.delete(id);
}

function isTextBody(contentType: string | undefined, body: Buffer): boolean {
  if (!contentType) return isUtf8(body);
  return /^text\/|json|xml|javascript|x-www-form-urlencoded|yaml|csv/i.test(contentType);
}

function sendError(id: number, err: unknown, code?: string): void {
  if (!streams.delete(id)) return;
  const e = err instanceof Error ? err : new Error(typeof err === 'string' ? err : describe(err));
  writer.json(FrameType.ERROR, id, { message: e.message, stack: e.stack, code });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
