// Lambda Invoke API calls (FLAG_RAW_EVENT): the body is the event itself, the answer is the result's JSON,
// and a handler failure answers 500 with `x-amz-function-error: Unhandled` and Lambda's error JSON.

export interface RawAnswer {
  head: string[];
  body: Buffer;
}

/** The event of a raw call: the body's JSON (an empty body is `{}`, as Lambda gives it). */
export function rawEvent(body: Buffer): unknown {
  return body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as unknown);
}

/** The handler's result as Lambda returns it to an Invoke caller: its JSON (`null` for undefined). */
export function rawResult(result: unknown): RawAnswer {
  return {
    head: ['200', 'content-type', 'application/json'],
    body: Buffer.from(JSON.stringify(result ?? null) ?? 'null'),
  };
}

/** `{"errorType","errorMessage","trace"}` of a failed handler, as the Node runtime client reports it. */
export function rawError(err: unknown): RawAnswer {
  const error =
    err instanceof Error
      ? { errorType: err.name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') }
      : { errorType: typeof err, errorMessage: String(err), trace: [] };
  return {
    head: ['500', 'content-type', 'application/json', 'x-amz-function-error', 'Unhandled'],
    body: Buffer.from(JSON.stringify(error)),
  };
}
