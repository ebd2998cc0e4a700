// Errors of the Lambda-compatible API in AWS's shape: the type in `x-amzn-ErrorType` (how the SDK names the
// exception) and `{"Type","Message"}` in the body; Nimbus's own coded errors are mapped onto AWS types.
import type { ServerResponse } from 'node:http';
import { NimbusError } from '../../errors.js';
import { cutShort } from '../respond.js';

/** An error answered in AWS's shape. */
export class LambdaError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = type;
  }
}

export const notFound = (what: string): LambdaError =>
  new LambdaError(404, 'ResourceNotFoundException', `Function not found: ${what}`);

export const invalidParameter = (message: string): LambdaError =>
  new LambdaError(400, 'InvalidParameterValueException', message);

/** AWS's type for a Nimbus error met while serving a Lambda API call. */
export function fromNimbusError(err: NimbusError): LambdaError {
  switch (err.code) {
    case 'ERR_FUNCTION_NOT_FOUND':
    case 'ERR_BUNDLE_NOT_FOUND':
      return new LambdaError(404, 'ResourceNotFoundException', err.message);
    case 'ERR_QUEUE_FULL':
    case 'ERR_CAPACITY_EXHAUSTED':
    case 'ERR_REQUEST_BODIES_FULL':
      return new LambdaError(429, 'TooManyRequestsException', err.message, {
        'retry-after': err.headers['retry-after'] ?? '1',
      });
    case 'ERR_REQUEST_BODY_TOO_LARGE':
      return new LambdaError(413, 'RequestTooLargeException', err.message);
    case 'ERR_FUNCTION_UNAVAILABLE':
      return new LambdaError(502, 'ResourceNotReadyException', err.message);
    case 'ERR_PLATFORM_SHUTTING_DOWN':
      return new LambdaError(503, 'ServiceException', err.message);
    case 'ERR_INTERNAL':
    case 'ERR_ASYNC_ENQUEUE_FAILED':
      return new LambdaError(500, 'ServiceException', err.message);
    default:
      if (err.status < 500) return new LambdaError(400, 'InvalidParameterValueException', err.message);
      return new LambdaError(500, 'ServiceException', `${err.code}: ${err.message}`);
  }
}

export function toLambdaError(err: unknown): LambdaError {
  if (err instanceof LambdaError) return err;
  if (err instanceof NimbusError) return fromNimbusError(err);
  return new LambdaError(500, 'ServiceException', (err as Error)?.message ?? String(err));
}

/** Writes an AWS error answer. */
export function sendLambdaError(res: ServerResponse, err: LambdaError, requestId: string): void {
  if (res.headersSent) {
    cutShort(res);
    return;
  }
  const text = JSON.stringify({ Type: err.status < 500 ? 'User' : 'Service', Message: err.message });
  res.writeHead(err.status, {
    ...err.headers,
    'x-amzn-errortype': err.type,
    'x-amzn-requestid': requestId,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Writes a JSON answer with the request id. */
export function sendLambdaJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  requestId: string,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'x-amzn-requestid': requestId,
    ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}),
  });
  res.end(text);
}
