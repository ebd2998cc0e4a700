// Writing JSON answers and coded errors (`{"error":{"code","message"}}`).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../errors.js';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** A NimbusError as it is; anything else becomes ERR_INTERNAL naming a reference (its `cause` is the original). */
export function toNimbusError(err: unknown): NimbusError {
  if (err instanceof NimbusError) return err;
  return new NimbusError('ERR_INTERNAL', [`ref ${randomUUID().slice(0, 8)}`], { cause: err });
}

/**
 * Cuts a response short whose head is out: the connection is destroyed on the next tick, not in this one —
 * node:http corks the socket for a write and uncorks it on the next tick, so what was written in this turn
 * (the head, the last bytes) would otherwise never leave.
 */
export function cutShort(res: ServerResponse, error?: Error): void {
  process.nextTick(() => res.destroy(error));
}

/**
 * Readies an error answer to a request whose body is still arriving: the rest is read and dropped, and the
 * connection ends with the answer, so a body that never ends (chunked, streamed on) is not drained for as
 * long as the client likes.
 */
export function dropUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  if (hasBody && !req.complete && !res.headersSent) res.setHeader('connection', 'close');
}

export function sendError(
  res: ServerResponse,
  err: unknown,
  debug: boolean,
  stack?: string,
  headers: Record<string, string> = {},
): void {
  const e = toNimbusError(err);
  if (res.headersSent) {
    cutShort(res);
    return;
  }
  const body: { error: { code: string; message: string; stack?: string } } = {
    error: { code: e.code, message: e.message },
  };
  const trace = stack ?? (e.cause instanceof Error ? e.cause.stack : e.stack);
  if (debug && trace) body.error.stack = trace;
  sendJson(res, e.status, body, { ...e.headers, ...headers });
}
