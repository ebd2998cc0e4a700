// Answers of the OpenWhisk API: JSON bodies, and errors in OpenWhisk's shape `{"error": text, "code": id}`
// (the client shows `error`), where the code is Nimbus's error code.
import type { ServerResponse } from 'node:http';
import type { NimbusError } from '../../errors.js';
import { cutShort } from '../respond.js';

/** The header every invocation answer carries (OpenWhisk's own name). */
export const ACTIVATION_ID_HEADER = 'x-openwhisk-activation-id';

export function sendOwJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}),
  });
  res.end(text);
}

/** Writes a coded error in OpenWhisk's shape (a stream already begun is cut off instead). */
export function sendOwError(
  res: ServerResponse,
  error: NimbusError,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    cutShort(res);
    return;
  }
  sendOwJson(res, error.status, { error: error.message, code: error.code }, { ...error.headers, ...headers });
}
