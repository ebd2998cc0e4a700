// The OpenFaaS node template style (the official node18/node20 of-watchdog templates): `module.exports =
// async (event, context) => result`, with `event` {body, headers, method, query, path} and a `context` of
// status()/headers()/succeed()/fail(). Requests and results map the way the template's Express app maps them.

/** `(event, context, callback)`: the callback is the template's own `cb(err, result)`. */
export type OpenFaaSHandler = (
  event: OpenFaaSEvent,
  context: OpenFaaSContext,
  callback: (err: unknown, result?: unknown) => void,
) => unknown;

export interface OpenFaaSEvent {
  /** Parsed by content type as the template's body-parser does (RAW_BODY=true: always a Buffer). */
  body: unknown;
  headers: Record<string, string | string[]>;
  method: string;
  query: Record<string, string | string[]>;
  path: string;
}

/** What the handler's call produced: a response head (status, name, value, ...) and body. */
export interface OpenFaaSResponse {
  head: string[];
  body: Buffer;
}

/** A request the template's body parsers refuse (malformed JSON): answered 400 like Express does. */
class BodyError extends Error {
  readonly status = 400;
}

/** The template's FunctionContext, kept to its public shape (handlers read `statusCode`, `headerValues`). */
export class OpenFaaSContext {
  statusCode = 200;
  headerValues: Record<string, unknown> = {};
  cbCalled = 0;

  constructor(private readonly cb: (err: unknown, result?: unknown) => void) {}

  status(): number;
  status(statusCode: number): this;
  status(statusCode?: number): number | this {
    if (!statusCode) return this.statusCode;
    this.statusCode = statusCode;
    return this;
  }

  headers(): Record<string, unknown>;
  headers(value: Record<string, unknown>): this;
  headers(value?: Record<string, unknown>): Record<string, unknown> | this {
    if (!value) return this.headerValues;
    this.headerValues = value;
    return this;
  }

  succeed(value?: unknown): void {
    this.cbCalled++;
    this.cb(undefined, value);
  }

  fail(value?: unknown): void {
    if (this.statusCode === 200) this.statusCode = 500;
    this.cbCalled++;
    this.cb(value);
  }
}

/** The handler of a module written for the template: `module.exports = fn` (or a `handler`/`handle` export). */
export function pickOpenFaaSHandler(mod: Record<string, unknown>, def: unknown): OpenFaaSHandler {
  if (typeof def === 'function') return def as OpenFaaSHandler;
  for (const name of ['handler', 'handle']) {
    const fn = mod[name] ?? (def as Record<string, unknown> | undefined)?.[name];
    if (typeof fn === 'function') return fn as OpenFaaSHandler;
  }
  throw new Error(
    'no OpenFaaS handler found: the node templates expect `module.exports = async (event, context) => result`',
  );
}

/** Builds the template's `event` from a request head (NUL-separated fields) and its whole body. */
export function openfaasEvent(fields: readonly string[], body: Buffer, rawBody: boolean): OpenFaaSEvent {
  const target = fields[1]!;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const headers: Record<string, string | string[]> = {};
  for (let i = 2; i < fields.length; i += 2) {
    const name = fields[i]!.toLowerCase();
    const value = fields[i + 1]!;
    const had = headers[name];
    if (name === 'set-cookie') headers[name] = [...((had as string[] | undefined) ?? []), value];
    else if (had === undefined) headers[name] = value;
    else headers[name] = `${had}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  // The template gives a request without a content type "text/plain", so its body arrives as text.
  headers['content-type'] ??= 'text/plain';
  const hasBody = body.length > 0 || headers['content-length'] !== undefined;
  return {
    body: hasBody ? parseBody(String(headers['content-type']), body, rawBody) : {},
    headers,
    method: fields[0]!,
    query: parseQuery(q === -1 ? '' : target.slice(q + 1)),
    path,
  };
}

function parseQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const had = out[key];
    out[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

/** body-parser's text (text/*), json (strict) and urlencoded parsers; any other type leaves `{}`. */
function parseBody(contentType: string, body: Buffer, rawBody: boolean): unknown {
  if (rawBody) return body;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type.startsWith('text/')) return body.toString('utf8');
  if (type === 'application/json') {
    const text = body.toString('utf8').trim();
    if (text === '') return {};
    if (text[0] !== '{' && text[0] !== '[')
      throw new BodyError('the JSON body must be an object or an array');
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new BodyError(`the JSON body does not parse: ${(err as Error).message}`);
    }
  }
  if (type === 'application/x-www-form-urlencoded') return parseQuery(body.toString('utf8'));
  return {};
}

/**
 * Runs the handler the way the template's middleware does: the first of the callback (`context.succeed`,
 * `context.fail`, `cb`) or the returned promise decides the answer. One deliberate difference: a handler
 * that throws answers 500 (the template keeps the context's status, 200 unless set), so failures count as
 * failures and async calls are retried.
 */
export function runOpenFaaS(
  handler: OpenFaaSHandler,
  fields: readonly string[],
  body: Buffer,
  rawBody: boolean,
): Promise<OpenFaaSResponse> {
  return new Promise((resolve) => {
    let done = false;
    const cb = (err: unknown, result?: unknown): void => {
      if (done) return;
      done = true;
      resolve(err === undefined || err === null ? success(context, result) : failure(context, err));
    };
    const context = new OpenFaaSContext(cb);
    let event: OpenFaaSEvent;
    try {
      event = openfaasEvent(fields, body, rawBody);
    } catch (err) {
      if (err instanceof BodyError) context.statusCode = err.status;
      cb(err);
      return;
    }
    let returned: unknown;
    try {
      returned = handler(event, context, cb);
    } catch (err) {
      cb(err ?? new Error('the handler threw'));
      return;
    }
    Promise.resolve(returned).then(
      (result) => {
        if (!context.cbCalled) context.succeed(result);
      },
      (err: unknown) => cb(err ?? new Error('the handler rejected')),
    );
  });
}

function success(context: OpenFaaSContext, result: unknown): OpenFaaSResponse {
  const head = [String(context.statusCode)];
  let hasType = false;
  for (const [name, value] of Object.entries(context.headerValues)) {
    if (value === undefined || value === null) continue;
    const lower = name.toLowerCase();
    if (lower === 'content-type') hasType = true;
    for (const v of Array.isArray(value) ? value : [value]) head.push(lower, String(v));
  }
  let out: Buffer;
  let type: string;
  if (result === undefined || result === null) {
    return { head, body: Buffer.alloc(0) };
  } else if (Buffer.isBuffer(result) || result instanceof Uint8Array) {
    out = Buffer.from(result);
    type = 'application/octet-stream';
  } else if (typeof result === 'object') {
    // The template sends JSON.stringify(result) as a string: Express then says text/html.
    out = Buffer.from(JSON.stringify(result));
    type = 'text/html; charset=utf-8';
  } else {
    out = Buffer.from(String(result));
    type = 'text/html; charset=utf-8';
  }
  if (!hasType) head.push('content-type', type);
  return { head, body: out };
}

function failure(context: OpenFaaSContext, err: unknown): OpenFaaSResponse {
  // The template logs the error, then answers its text.
  console.error(err);
  if (context.statusCode === 200) context.statusCode = 500;
  return {
    head: [String(context.statusCode), 'content-type', 'text/html; charset=utf-8'],
    body: Buffer.from(String(err)),
  };
}
