// What a queue message carries: a small JSON head (method, path, headers, ...) and the body bytes after it,
// as they arrived: a u32 length of the head, the head, then the body. The body is never parsed.

/** A call of a function, as queued by /async-function or a cron schedule. */
export interface CallEnvelope {
  method: string;
  /** Path suffix with query, as the function sees it. */
  path: string;
  /** Header pairs, names lower-case. */
  headers: [string, string][];
  callbackUrl?: string;
  source: CallSource;
  /** The body is a Lambda event passed as it is (a Lambda Invoke of type Event), not an HTTP request. */
  rawEvent?: boolean;
  /**
   * The trace the call belongs to (W3C): the span that queued it (or the caller's context when tracing is
   * off). Every attempt runs in that trace and the function gets it as its `traceparent`'s trace. Calls
   * queued before tracing existed have none: each attempt then starts a trace.
   */
  traceparent?: string;
  tracestate?: string;
}

export type CallSource = 'http' | 'cron' | 'topic';

/** A result to POST to an X-Callback-Url. */
export interface CallbackEnvelope {
  callId: string;
  url: string;
  headers: [string, string][];
}

export function encodeEnvelope(head: object, body: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(head));
  const out = Buffer.allocUnsafe(4 + json.length + body.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, 4);
  out.set(body, 4 + json.length);
  return out;
}

export function decodeEnvelope<T>(data: Buffer): { head: T; body: Buffer } {
  const length = data.readUInt32BE(0);
  const head = JSON.parse(data.subarray(4, 4 + length).toString('utf8')) as T;
  return { head, body: data.subarray(4 + length) };
}
