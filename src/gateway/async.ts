// /async-function/{name}[/path]: the request is written to the durable queue and answered 202 with
// X-Call-Id once it is on disk. Like the sync path, nothing here parses the body or touches the store.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '../auth/authenticate.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Namespaces } from '../dispatch/namespaces.js';
import type { VersionRouter } from '../dispatch/versions.js';
import { NimbusError } from '../errors.js';
import { passOn, startHttpTrace } from '../observability/tracing.js';
import type { SubmitRequest } from '../queue/async-system.js';
import type { CallbackPolicy } from '../queue/callback-policy.js';
import type { BodyBudget } from './body-budget.js';
import { functionRoute, HOP_HEADERS, resolveFunction } from './function-route.js';
import { sendError } from './respond.js';

export interface AsyncInvokeOptions {
  dispatcher: Dispatcher;
  submit: (request: SubmitRequest) => Promise<string>;
  /** Largest body of an async call (the platform's asyncBodyLimitBytes). */
  bodyLimitBytes: number;
  debug: boolean;
  auth: Authenticator;
  namespaces: Namespaces;
  versions: VersionRouter;
  /** Where X-Callback-Url may point. */
  callbackPolicy: CallbackPolicy;
  /** What bodies held whole may take together (each is held until it is queued). */
  bodies: BodyBudget;
}

/**
 * Request headers not kept with the call: those of the hop, the callback URL (the platform's), the call
 * id and attempt (the worker sets them), the trace context (kept beside the headers: this call's span with
 * tracing on). A Nimbus credential in Authorization is dropped too.
 */
const DROPPED_HEADERS = new Set([
  ...HOP_HEADERS,
  'content-length',
  'expect',
  'x-callback-url',
  'x-call-id',
  'x-nimbus-attempt',
  'traceparent',
  'tracestate',
]);

export type AsyncInvokeHandler = (req: IncomingMessage, res: ServerResponse, prefixLength: number) => void;

export function createAsyncInvokeHandler(options: AsyncInvokeOptions, prefix: string): AsyncInvokeHandler {
  const { bodyLimitBytes, debug } = options;
  const tracing = options.dispatcher.tracing;

  function reject(req: IncomingMessage, res: ServerResponse, err: NimbusError): void {
    req.resume();
    sendError(res, err, debug);
  }

  return function asyncInvoke(req, res, prefixLength) {
    // OpenFaaS's X-Start-Time: when the gateway took the request, in Unix nanoseconds.
    const startTime = `${Date.now()}000000`;
    const { name, target } = functionRoute(req.url!, prefixLength);
    const resolved = resolveFunction(options, name, req, target);
    if (resolved instanceof NimbusError) {
      reject(req, res, resolved);
      return;
    }
    const { entry, consumedAuthorization } = resolved;
    const trace = tracing === undefined ? undefined : startHttpTrace(tracing, req, prefix, entry.fn.name);
    if (trace) res.once('close', () => trace.end(res.writableFinished ? res.statusCode : 499));
    if (name.includes('@')) {
      // A queued call runs whatever version is current when a worker takes it.
      reject(
        req,
        res,
        new NimbusError('ERR_REQUEST_INVALID', [
          'async calls run the current version: drop the @alias or @version',
        ]),
      );
      return;
    }
    const callbackUrl = req.headers['x-callback-url'];
    if (callbackUrl !== undefined) {
      const refused =
        typeof callbackUrl !== 'string' || callbackUrl.length > 2048
          ? 'give one absolute URL of at most 2048 characters'
          : options.callbackPolicy.checkUrl(callbackUrl);
      if (refused !== undefined) {
        reject(
          req,
          res,
          new NimbusError('ERR_ASYNC_CALLBACK_URL_INVALID', [String(callbackUrl).slice(0, 200), refused]),
        );
        return;
      }
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > bodyLimitBytes) {
      res.setHeader('connection', 'close');
      reject(req, res, new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [bodyLimitBytes]));
      return;
    }
    const raw = req.rawHeaders;
    const headers: [string, string][] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const key = raw[i]!.toLowerCase();
      if (DROPPED_HEADERS.has(key) || (consumedAuthorization && key === 'authorization')) continue;
      headers.push([key, raw[i + 1]!]);
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const hold = options.bodies.hold(res);
    const fail = (err: NimbusError) => {
      failed = true;
      chunks.length = 0;
      hold.release();
      res.setHeader('connection', 'close');
      sendError(res, err, debug);
    };
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > bodyLimitBytes) {
        fail(new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [bodyLimitBytes]));
        return;
      }
      try {
        hold.take(chunk.length);
      } catch (err) {
        fail(err as NimbusError);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      // The queued call carries the trace on: this request's span, or the client's context as it came.
      const context = trace ?? passOn(req.headers.traceparent, req.headers.tracestate);
      options
        .submit({
          fn: entry.fn.name,
          method: req.method!,
          path: resolved.target ?? target,
          headers,
          body,
          callbackUrl: callbackUrl as string | undefined,
          source: 'http',
          trace: { traceparent: context.traceparent, tracestate: context.tracestate },
        })
        .then(
          (callId) => {
            trace?.setAttribute('nimbus.call_id', callId);
            const text = `{"callId":"${callId}"}`;
            res.writeHead(202, {
              'x-call-id': callId,
              'x-start-time': startTime,
              'content-type': 'application/json; charset=utf-8',
              'content-length': text.length,
            });
            res.end(text);
          },
          (err: unknown) => sendError(res, err, debug),
        );
    });
  };
}
