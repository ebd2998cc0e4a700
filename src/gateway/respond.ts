// Writing JSON answers and coded errors (`{"error":{"code","message"}}`).
import type { ServerResponse } from 'node:http';
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

export function toNimbusError(err: unknown): NimbusError {
  if (err instanceof NimbusError) return err;
  return new NimbusError('ERR_PLATFORM_INTERNAL', [(err as Error)?.message ?? String(err)], { cause: err });
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
    res.destroy();
    return;
  }
  const body: { error: { code: string; message: string; stack?: string } } = {
    error: { code: e.code, message: e.message },
  };
  const trace = stack ?? e.stack;
  if (debug && trace) body.error.stack = trace;
  sendJson(res, e.status, body, { ...e.headers, ...headers });
}
