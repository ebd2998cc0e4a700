// OpenWhisk's web-action HTTP mapping, pure: a request becomes an action's params (`__ow_method`,
// `__ow_headers`, `__ow_path`, query and JSON or form body merged, or `__ow_body`/`__ow_query` for raw-http),
// and a result becomes a response by the content extension (.http: {statusCode, headers, body}, base64 for
// binary types; .json, .html, .svg, .text). Shared by the web-action route and the Node runner, which
// serves plain HTTP calls of an OpenWhisk-style function the same way.

import { parseClientJson } from '../client-json.js';

export interface WebRequest {
  method: string;
  /** Header names lower-case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The path after the action (and its extension): `""` or `/a/b`. */
  path: string;
  /** The raw query string, without `?`. */
  query: string;
  body: Uint8Array;
}

export interface WebAnswer {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

export const WEB_EXTENSIONS = ['.http', '.json', '.html', '.svg', '.text'] as const;
export type WebExtension = (typeof WEB_EXTENSIONS)[number];

/** Params a request may not set: they carry the HTTP context. */
export const RESERVED_PARAMS = [
  '__ow_method',
  '__ow_headers',
  '__ow_path',
  '__ow_user',
  '__ow_query',
  '__ow_body',
];

/** A request body the mapping cannot take (malformed JSON or form data). */
export class WebInputError extends Error {}

/** A result that is not a valid response for its extension: `media` names what was expected. */
export class WebResultError extends Error {
  constructor(
    readonly media: string,
    message: string,
  ) {
    super(message);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** JSON and its `+json` family. */
export function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/** Content types whose bodies are text (OpenWhisk asks akka-http; these are the types it treats as text). */
export function isTextType(type: string): boolean {
  return (
    type === '' ||
    type.startsWith('text/') ||
    isJsonType(type) ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript' ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'image/svg+xml'
  );
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(query)) out[key] = value;
  return out;
}

/** Splits `name.ext` into the action name and its extension (`.http` when it has none OpenWhisk knows). */
export function splitExtension(segment: string): { name: string; ext: WebExtension } {
  for (const ext of WEB_EXTENSIONS) {
    if (segment.endsWith(ext) && segment.length > ext.length)
      return { name: segment.slice(0, -ext.length), ext };
  }
  return { name: segment, ext: '.http' };
}

/**
 * The params of a web request. Not raw: query parameters, then a JSON object or form body, merged as
 * first-class params (the body wins); any other body is `__ow_body` (text, or base64 when binary). Raw:
 * `__ow_query` and `__ow_body` as they came (JSON bodies base64-encoded, as OpenWhisk does).
 */
export function webParams(req: WebRequest, raw: boolean): Record<string, unknown> {
  const params: Record<string, unknown> = {
    __ow_method: req.method.toLowerCase(),
    __ow_headers: req.headers,
    __ow_path: req.path,
  };
  const type = mediaType(req.headers['content-type']);
  const hasBody = req.body.length > 0;
  if (raw) {
    params.__ow_query = req.query;
    params.__ow_body = !hasBody
      ? ''
      : isTextType(type) && type !== 'application/json'
        ? decoder.decode(req.body)
        : toBase64(req.body);
    return params;
  }
  Object.assign(params, parseQuery(req.query));
  if (!hasBody) return params;
  if (isJsonType(type)) {
    let value: unknown;
    try {
      value = parseClientJson(decoder.decode(req.body));
    } catch (err) {
      throw new WebInputError(`the JSON body does not parse: ${(err as Error).message}`);
    }
    if (value && typeof value === 'object' && !Array.isArray(value)) Object.assign(params, value);
    else params.__ow_body = value;
  } else if (type === 'application/x-www-form-urlencoded') {
    Object.assign(params, parseQuery(decoder.decode(req.body)));
  } else {
    params.__ow_body = isTextType(type) ? decoder.decode(req.body) : toBase64(req.body);
  }
  return params;
}

/** The query and body keys of a request that name reserved or `final` params (what it may not set). */
export function overridden(req: WebRequest, protectedNames: readonly string[]): string[] {
  const names = new Set(protectedNames);
  const hits = new Set<string>();
  for (const key of new URLSearchParams(req.query).keys()) if (names.has(key)) hits.add(key);
  const type = mediaType(req.headers['content-type']);
  if (req.body.length > 0 && (isJsonType(type) || type === 'application/x-www-form-urlencoded')) {
    let keys: string[] = [];
    if (type === 'application/x-www-form-urlencoded')
      keys = [...new URLSearchParams(decoder.decode(req.body)).keys()];
    else {
      try {
        const value = parseClientJson(decoder.decode(req.body));
        if (value && typeof value === 'object' && !Array.isArray(value)) keys = Object.keys(value);
      } catch {}
    }
    for (const key of keys) if (names.has(key)) hits.add(key);
  }
  return [...hits];
}

/** The value at `path` inside a result (`["body"]`, `["response","name"]`), or undefined. */
export function project(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    if (!at || typeof at !== 'object' || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** Whether a result speaks HTTP (has `statusCode`, `headers` or `body` at its top level). */
export function isHttpShaped(value: unknown): value is Record<string, unknown> {
  return (
    !!value &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    ('statusCode' in value || 'headers' in value || 'body' in value)
  );
}

function json(status: number, value: unknown, type = 'application/json'): WebAnswer {
  return { status, headers: [['content-type', type]], body: encoder.encode(JSON.stringify(value)) };
}

function text(value: string, type: string): WebAnswer {
  return { status: 200, headers: [['content-type', type]], body: encoder.encode(value) };
}

/** The response for a result (already projected) by the extension; throws WebResultError for a mismatch. */
export function webAnswer(value: unknown, ext: WebExtension): WebAnswer {
  switch (ext) {
    case '.json':
      if (value && typeof value === 'object') return json(200, value);
      throw new WebResultError('application/json', 'the result is not a JSON object or array');
    case '.html':
    case '.svg': {
      const field = ext === '.html' ? 'html' : 'svg';
      const type = ext === '.html' ? 'text/html; charset=utf-8' : 'image/svg+xml';
      const picked =
        value && typeof value === 'object' && !Array.isArray(value)
          ? ((value as Record<string, unknown>).body ?? (value as Record<string, unknown>)[field])
          : value;
      if (typeof picked === 'string') return text(picked, type);
      throw new WebResultError(type, `the result has no string "body" or "${field}"`);
    }
    case '.text': {
      const picked =
        value && typeof value === 'object' && !Array.isArray(value)
          ? ((value as Record<string, unknown>).body ?? (value as Record<string, unknown>).text)
          : value;
      if (picked === undefined) throw new WebResultError('text/plain', 'the result has no "body" or "text"');
      return text(
        typeof picked === 'string' ? picked : JSON.stringify(picked, null, 2),
        'text/plain; charset=utf-8',
      );
    }
    case '.http':
      return httpAnswer(value);
  }
}

/** `.http`: the result's statusCode, headers and body (a string body of a binary type is base64). */
function httpAnswer(value: unknown): WebAnswer {
  const invalid = (why: string) => new WebResultError('message/http', why);
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw invalid('the result is not a JSON object');
  const result = value as Record<string, unknown>;
  const headers: [string, string][] = [];
  if (result.headers !== undefined) {
    if (!result.headers || typeof result.headers !== 'object' || Array.isArray(result.headers))
      throw invalid('"headers" is not an object');
    for (const [name, v] of Object.entries(result.headers as Record<string, unknown>)) {
      for (const one of Array.isArray(v) ? v : [v]) {
        if (typeof one !== 'string' && typeof one !== 'number' && typeof one !== 'boolean')
          throw invalid(`header "${name}" is not a string, number or boolean`);
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw invalid(`"${name}" is not a header name`);
        const str = String(one);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
        if (/[\r\n\u0000]/.test(str)) throw invalid(`header "${name}" holds a line break`);
        headers.push([name.toLowerCase(), str]);
      }
    }
  }
  let status: number | undefined;
  if (result.statusCode !== undefined) {
    const code = typeof result.statusCode === 'string' ? Number(result.statusCode) : result.statusCode;
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 100 || code > 599)
      throw invalid('"statusCode" is not an HTTP status');
    status = code;
  }
  const body = result.body;
  const typeAt = headers.findIndex(([name]) => name === 'content-type');
  const declared = typeAt === -1 ? undefined : headers[typeAt]![1];
  const rest = headers.filter(([name]) => name !== 'content-type');
  if (body === undefined || body === null || body === '')
    return { status: status ?? 204, headers: rest, body: new Uint8Array(0) };
  if (typeof body === 'string') {
    const type = mediaType(declared ?? 'text/html');
    const contentType = declared ?? 'text/html; charset=utf-8';
    // A binary type's body is base64; so is a JSON body that looks like base64 (OpenWhisk's legacy rule).
    const decode = !isTextType(type) || (isJsonType(type) && isBase64(body));
    if (decode) {
      if (!isBase64(body)) throw invalid(`the body of a ${type} response must be base64`);
      return {
        status: status ?? 200,
        headers: [...rest, ['content-type', contentType]],
        body: Buffer.from(body, 'base64'),
      };
    }
    return {
      status: status ?? 200,
      headers: [...rest, ['content-type', contentType]],
      body: encoder.encode(body),
    };
  }
  const type = mediaType(declared ?? 'application/json');
  if (!isJsonType(type)) throw invalid(`a JSON body needs a JSON content type, not ${type}`);
  return {
    status: status ?? 200,
    headers: [...rest, ['content-type', declared ?? 'application/json']],
    body: encoder.encode(JSON.stringify(body)),
  };
}

function isBase64(value: string): boolean {
  return value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/\s+/g, ''));
}

/**
 * The answer to a plain HTTP call (`/function/NAME`) of an OpenWhisk-style function: a result that speaks
 * HTTP as `.http` does, any other as 200 JSON; an `{error}` result the same way with its error, 400 unless
 * the error names its own statusCode.
 */
export function functionAnswer(result: Record<string, unknown>): WebAnswer {
  const failed = Object.hasOwn(result, 'error');
  const value = failed ? result.error : result;
  if (isHttpShaped(value)) {
    const answer = httpAnswer(value);
    if (failed && value.statusCode === undefined) answer.status = 400;
    return answer;
  }
  return failed ? json(400, { error: value }) : json(200, value);
}
