// lambda mode, a Lambda custom runtime (like provided.al2): starts `bootstrap` (or `command`) with the
// environment the AWS runtime clients require and serves it the Lambda Runtime API (2018-06-01) on
// 127.0.0.1. HTTP requests become function-URL payload 2.0 events; results, errors and streamed responses
// (with the HTTP-integration prelude) map back as Lambda maps them. reference: shared/reference/lambda.md.
import { isUtf8 } from 'node:buffer';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { xrayTraceHeader } from '../../observability/trace-context.js';
import { fromLambdaResult, toLambdaEvent } from '../node/lambda-style.js';
import { withBundlePython } from './bundle-python.js';
import type { CreateMode } from './mode.js';
import { describeExit, programEnv, resolveProgram, startProgram } from './program.js';
import type { AdapterStream } from './stream.js';

const API = '/2018-06-01/runtime/';
/** Lambda's synchronous response limit (the emulator's MaxPayloadSize). */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100;
const ERROR_BODY_LIMIT_BYTES = 1024 * 1024;
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
/** Ends the JSON prelude of a streamed HTTP-integration response. */
const PRELUDE_DELIMITER = Buffer.alloc(8);
/** Finished request ids remembered to tell a second answer (403) from an unknown id (400). */
const FINISHED_IDS_KEPT = 1024;

interface Invocation {
  id: string;
  stream: AdapterStream;
  event: Buffer;
  deadlineMs: number;
  traceId: string;
  state: 'queued' | 'running';
}

/**
 * The variables a runtime client needs (§1.4 of the reference). The function's own environment may set the
 * region, TZ and AWS_LAMBDA_MAX_CONCURRENCY (`defaults`), not the rest (`reserved`). With `concurrency`
 * above 1, AWS_LAMBDA_MAX_CONCURRENCY asks the runtime to poll that many events at once, as Lambda Managed
 * Instances do (aws-lambda-ric 4.x then runs worker threads); a runtime that ignores it serves one at a time.
 */
export function lambdaEnv(args: {
  name: string;
  version: number;
  memoryMb: number;
  timeoutMs: number;
  concurrency: number;
  bundleDir: string;
  handler: string;
  runtimeApi: string;
  functionEnv: Readonly<Record<string, string>>;
  now?: Date;
}): { defaults: Record<string, string>; reserved: Record<string, string> } {
  const now = args.now ?? new Date();
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  const region = args.functionEnv.AWS_REGION ?? args.functionEnv.AWS_DEFAULT_REGION ?? 'us-east-1';
  const defaults: Record<string, string> = { AWS_REGION: region, AWS_DEFAULT_REGION: region, TZ: ':UTC' };
  if (args.concurrency > 1) defaults.AWS_LAMBDA_MAX_CONCURRENCY = String(args.concurrency);
  return {
    defaults,
    reserved: {
      AWS_LAMBDA_RUNTIME_API: args.runtimeApi,
      _HANDLER: args.handler,
      LAMBDA_TASK_ROOT: args.bundleDir,
      LAMBDA_RUNTIME_DIR: args.bundleDir,
      AWS_LAMBDA_FUNCTION_NAME: args.name,
      AWS_LAMBDA_FUNCTION_VERSION: String(args.version),
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(args.memoryMb),
      AWS_LAMBDA_FUNCTION_TIMEOUT: String(Math.ceil(args.timeoutMs / 1000)),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${args.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[${args.version}]${randomBytes(16).toString('hex')}`,
    },
  };
}

function isTextBody(contentType: string | undefined, body: Buffer): boolean {
  if (!contentType) return isUtf8(body);
  return /^text\/|json|xml|javascript|x-www-form-urlencoded|yaml|csv/i.test(contentType);
}

/**
 * Lambda-Runtime-Trace-Id (which runtime clients put in `_X_AMZN_TRACE_ID` and `context.xRayTraceId`): the
 * call's W3C `traceparent` in X-Ray's form, so the trace is the gateway's; a new one when there is none.
 */
function traceId(traceparent: string | undefined): string {
  const header = traceparent === undefined ? undefined : xrayTraceHeader(traceparent);
  if (header !== undefined) return header;
  const epoch = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function apiError(res: ServerResponse, status: number, errorType: string, errorMessage: string): void {
  reply(res, status, { errorType, errorMessage });
}

/** Reads a request body up to `limit` bytes; resolves null past it. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `{errorType, errorMessage, trace | stackTrace}` as a runtime reports it, with the type header first. */
export function describeRuntimeError(
  headerType: string | undefined,
  body: Buffer | null,
): { message: string; stack: string | undefined } {
  let parsed: { errorType?: unknown; errorMessage?: unknown; trace?: unknown; stackTrace?: unknown } = {};
  try {
    if (body && body.length > 0) parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    parsed = { errorMessage: body!.toString('utf8').slice(0, 2000) };
  }
  const type = headerType || (typeof parsed.errorType === 'string' ? parsed.errorType : 'Unknown');
  const text = typeof parsed.errorMessage === 'string' ? parsed.errorMessage : '';
  const trace = Array.isArray(parsed.trace) ? parsed.trace : parsed.stackTrace;
  const stack = Array.isArray(trace) ? trace.map(String).join('\n') : undefined;
  return { message: text ? `${type}: ${text}` : type, stack };
}

/** Status and header pairs of a streamed HTTP-integration prelude `{statusCode, headers, cookies}`. */
export function preludeHead(json: string): { status: number; headers: string[] } {
  const prelude = JSON.parse(json || '{}') as {
    statusCode?: unknown;
    headers?: Record<string, unknown>;
    cookies?: unknown[];
  };
  const status = typeof prelude.statusCode === 'number' ? prelude.statusCode : 200;
  const headers: string[] = [];
  for (const [name, value] of Object.entries(prelude.headers ?? {})) {
    if (value !== undefined && value !== null) headers.push(name.toLowerCase(), String(value));
  }
  for (const cookie of prelude.cookies ?? []) headers.push('set-cookie', String(cookie));
  return { status, headers };
}

export const createLambdaMode: CreateMode = (load, options, host) => {
  const region = load.env.AWS_REGION ?? load.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const functionArn = `arn:aws:lambda:${region}:000000000000:function:${load.name}`;
  const queue: Invocation[] = [];
  const pollers: ServerResponse[] = [];
  const active = new Map<string, Invocation>();
  const finished = new Set<string>();
  const cancelled = new Set<string>();
  let server: Server | undefined;
  let child: ChildProcess | undefined;
  let initialised = false;
  let onInitialised: (() => void) | undefined;
  let onInitError: ((message: string) => void) | undefined;

  function remember(set: Set<string>, id: string): void {
    set.add(id);
    if (set.size > FINISHED_IDS_KEPT) set.delete(set.values().next().value as string);
  }

  function send(invocation: Invocation, res: ServerResponse): void {
    invocation.state = 'running';
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': invocation.event.length,
      'lambda-runtime-aws-request-id': invocation.id,
      'lambda-runtime-deadline-ms': String(invocation.deadlineMs),
      'lambda-runtime-invoked-function-arn': functionArn,
      'lambda-runtime-trace-id': invocation.traceId,
    });
    res.end(invocation.event);
  }

  function dispatch(invocation: Invocation): void {
    while (pollers.length > 0) {
      const res = pollers.shift()!;
      if (!res.destroyed && !res.writableEnded) {
        send(invocation, res);
        return;
      }
    }
    queue.push(invocation);
  }

  function next(res: ServerResponse): void {
    if (!initialised) {
      // The first poll ends init: the runtime loaded its handler and is ready for events.
      initialised = true;
      onInitialised?.();
    }
    const invocation = queue.shift();
    if (invocation) {
      send(invocation, res);
      return;
    }
    // Long poll: held until an event exists, however long that takes.
    pollers.push(res);
    res.once('close', () => {
      const i = pollers.indexOf(res);
      if (i !== -1) pollers.splice(i, 1);
    });
  }

  /** The invocation a runtime answers for, or an API error reply. */
  function claim(id: string, res: ServerResponse): Invocation | 'discard' | undefined {
    const invocation = active.get(id);
    if (invocation?.state === 'running') {
      active.delete(id);
      remember(finished, id);
      return invocation;
    }
    if (cancelled.has(id)) {
      // The caller went away: the answer is accepted and dropped, so the runtime carries on.
      cancelled.delete(id);
      remember(finished, id);
      return 'discard';
    }
    if (finished.has(id))
      apiError(res, 403, 'InvalidStateTransition', `request ${id} has already been answered`);
    else apiError(res, 400, 'InvalidRequestID', `no invocation with id ${id} is in progress`);
    return undefined;
  }

  async function response(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const responseMode = req.headers['lambda-runtime-function-response-mode'];
    if (responseMode !== undefined && responseMode !== 'streaming') {
      req.resume();
      apiError(res, 400, 'InvalidFunctionResponseMode', `response mode "${responseMode}" is not "streaming"`);
      return;
    }
    const invocation = claim(id, res);
    if (!invocation) {
      req.resume();
      return;
    }
    if (invocation === 'discard') {
      req.resume();
      req.on('end', () => reply(res, 202, { status: 'OK' }));
      return;
    }
    const { stream } = invocation;
    if (responseMode === 'streaming') {
      streamed(stream, req, res);
      return;
    }
    const body = await readBody(req, MAX_RESPONSE_BYTES);
    if (body === null) {
      apiError(res, 413, 'RequestEntityTooLarge', `the response is over ${MAX_RESPONSE_BYTES} bytes`);
      stream.fail(`the response is over ${MAX_RESPONSE_BYTES} bytes`, undefined, 'invalid_response');
      return;
    }
    reply(res, 202, { status: 'OK' });
    if (stream.raw) {
      // An Invoke API call: the runtime's JSON goes back to the caller as it is.
      stream.respond(200, ['content-type', 'application/json'], body.length === 0);
      if (body.length > 0) stream.write(body, true);
      return;
    }
    let result: unknown;
    try {
      result = body.length === 0 ? null : JSON.parse(body.toString('utf8'));
    } catch {
      stream.fail(
        `the runtime posted a response that is not JSON: ${body.subarray(0, 200).toString('utf8')}`,
        undefined,
        'invalid_response',
      );
      return;
    }
    const mapped = fromLambdaResult(result);
    stream.respond(Number(mapped.head[0]), mapped.head.slice(1), mapped.body.length === 0);
    if (mapped.body.length > 0) stream.write(mapped.body, true);
  }

  /** A streamed response: chunks pass through as they arrive; an error comes in the trailers. */
  function streamed(stream: AdapterStream, req: IncomingMessage, res: ServerResponse): void {
    const contentType = req.headers['content-type'];
    let prelude: Buffer | null = contentType === HTTP_INTEGRATION_CONTENT_TYPE ? Buffer.alloc(0) : null;
    const head = (status: number, headers: string[]): void => {
      if (!stream.headSent) stream.respond(status, headers, false);
    };
    const endPrelude = (rest: Buffer | null): boolean => {
      try {
        const { status, headers } = preludeHead(prelude!.toString('utf8'));
        head(status, headers);
      } catch (err) {
        stream.fail(
          `the streamed response's prelude is not JSON: ${(err as Error).message}`,
          undefined,
          'invalid_response',
        );
        return false;
      }
      prelude = null;
      if (rest && rest.length > 0) write(rest);
      return true;
    };
    // Past the gateway's window the runtime's upload is paused: its writes block.
    const write = (chunk: Buffer): void => {
      if (stream.write(chunk) || !stream.open) return;
      req.pause();
      void stream.writable().then(() => req.resume());
    };
    req.on('data', (chunk: Buffer) => {
      if (!stream.open) return;
      if (prelude) {
        prelude = Buffer.concat([prelude, chunk]);
        const at = prelude.indexOf(PRELUDE_DELIMITER);
        if (at === -1) return;
        const rest = prelude.subarray(at + PRELUDE_DELIMITER.length);
        prelude = prelude.subarray(0, at);
        endPrelude(rest);
        return;
      }
      head(200, contentType ? ['content-type', contentType] : []);
      write(chunk);
    });
    req.on('end', () => {
      reply(res, 202, { status: 'OK' });
      const errorType = req.trailers['lambda-runtime-function-error-type'];
      if (errorType) {
        const raw = req.trailers['lambda-runtime-function-error-body'];
        const { message, stack } = describeRuntimeError(errorType, raw ? Buffer.from(raw, 'base64') : null);
        stream.fail(message, stack);
        return;
      }
      if (prelude && !endPrelude(null)) return;
      head(200, contentType ? ['content-type', contentType] : []);
      stream.end();
    });
    req.on('aborted', () => stream.fail('the runtime broke off its streamed response'));
  }

  async function error(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const invocation = claim(id, res);
    if (!invocation) {
      req.resume();
      return;
    }
    const body = await readBody(req, ERROR_BODY_LIMIT_BYTES);
    reply(res, 202, { status: 'OK' });
    if (invocation === 'discard') return;
    if (invocation.stream.raw) {
      // An Invoke API call: Lambda answers the runtime's error JSON with X-Amz-Function-Error.
      const head = ['content-type', 'application/json', 'x-amz-function-error', 'Unhandled'];
      invocation.stream.respond(500, head, !body || body.length === 0);
      if (body && body.length > 0) invocation.stream.write(body, true);
      return;
    }
    const type = req.headers['lambda-runtime-function-error-type'];
    const { message, stack } = describeRuntimeError(typeof type === 'string' ? type : undefined, body);
    invocation.stream.fail(message, stack);
  }

  async function initError(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, ERROR_BODY_LIMIT_BYTES);
    reply(res, 202, { status: 'OK' });
    const type = req.headers['lambda-runtime-function-error-type'];
    const { message, stack } = describeRuntimeError(typeof type === 'string' ? type : undefined, body);
    if (onInitError) onInitError(message);
    else
      process.stderr.write(
        `nimbus: the runtime reported an init error after init: ${message}\n${stack ?? ''}\n`,
      );
  }

  function onApi(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    const path = url.startsWith(API) ? url.slice(API.length) : undefined;
    const fail = (err: unknown): void => {
      if (!res.headersSent) apiError(res, 500, 'InternalServerError', (err as Error).message);
    };
    if (path === 'invocation/next' && req.method === 'GET') {
      req.resume();
      next(res);
      return;
    }
    if (req.method === 'POST' && path !== undefined) {
      if (path === 'init/error') {
        initError(req, res).catch(fail);
        return;
      }
      const m = /^invocation\/([^/]+)\/(response|error)$/.exec(path);
      if (m) {
        const id = decodeURIComponent(m[1]!);
        (m[2] === 'response' ? response(id, req, res) : error(id, req, res)).catch(fail);
        return;
      }
    }
    req.resume();
    apiError(res, 404, 'NotFound', `${req.method} ${url} is not part of the Runtime API`);
  }

  function invoke(stream: AdapterStream, body: Buffer): void {
    if (!stream.open) return;
    const event = stream.raw
      ? body.length > 0
        ? body
        : Buffer.from('{}')
      : Buffer.from(JSON.stringify(toLambdaEvent(stream.fields, body, isTextBody)));
    let id = stream.header('x-call-id');
    if (!id || active.has(id) || finished.has(id) || cancelled.has(id)) id = randomUUID();
    const invocation: Invocation = {
      id,
      stream,
      event,
      deadlineMs: Date.now() + load.timeoutMs,
      traceId: traceId(stream.header('traceparent')),
      state: 'queued',
    };
    active.set(id, invocation);
    stream.onCancel = () => {
      active.delete(id);
      const i = queue.indexOf(invocation);
      if (i !== -1) queue.splice(i, 1);
      else remember(cancelled, id);
    };
    dispatch(invocation);
  }

  return {
    async start() {
      server = createServer({ keepAliveTimeout: 3_600_000 }, onApi);
      // `next` is a long poll: no timeout may end it.
      server.requestTimeout = 0;
      server.timeout = 0;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(0, '127.0.0.1', () => resolve());
      });
      const { port } = server.address() as AddressInfo;
      const { defaults, reserved } = lambdaEnv({
        name: load.name,
        version: load.version,
        memoryMb: load.memoryMb,
        timeoutMs: load.timeoutMs,
        concurrency: options.concurrency,
        bundleDir: load.bundleDir,
        handler: options.handler,
        runtimeApi: `127.0.0.1:${port}`,
        functionEnv: load.env,
      });
      const env = {
        ...withBundlePython(programEnv({ ...defaults, ...load.env }), load.bundleDir),
        ...reserved,
      };
      const program = resolveProgram(options.argv, load.bundleDir, env.PATH ?? '');
      await new Promise<void>((resolve, reject) => {
        onInitialised = resolve;
        onInitError = (message) => reject(new Error(`the runtime failed to initialise: ${message}`));
        child = startProgram(program, env, ['ignore', 'inherit', 'inherit']);
        child.on('error', (err) => reject(new Error(`could not start ${program.display}: ${err.message}`)));
        child.on('exit', (code, signal) => {
          const how = describeExit(code, signal);
          if (!initialised)
            reject(new Error(`${program.display} exited (${how}) before it asked for an event`));
          // A runtime that exits mid-invoke fails what is in flight (502 from the gateway), not a hang.
          else host.exit(`the runtime ${program.display} exited (${how})`);
        });
        process.on('exit', () => child?.kill('SIGKILL'));
      });
      onInitError = undefined;
    },
    request(stream) {
      void stream.wholeBody().then((body) => invoke(stream, body));
    },
  };
};
