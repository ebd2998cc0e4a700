// Lightweight Request and Response for the runner's hot path. On Node 20, constructing undici's
// Request (above all with an AbortSignal) and Response, and reading a Response body through its stream,
// cost tens of microseconds per call. These classes are real subclasses as far as user code can tell
// (instanceof both ways, name, every property and method, enumerability) but build the undici object
// only when something needs it; the runner reads a plain body and headers straight from a snapshot taken
// at construction. Whatever the light path cannot prove undici would accept exactly as given is handed to
// undici at once, so every constructor check throws where and as undici's does (test/unit/light-web.test.ts
// runs the same operations against both).

const GlobalRequest = globalThis.Request;
const GlobalResponse = globalThis.Response;
const GlobalHeaders = globalThis.Headers;

/** First constructor argument of the runner's own LightResponse constructions (never user code's). */
const kFromPlain = Symbol('nimbus.fromPlain');
const kWrap = Symbol('nimbus.wrap');

/** A header name undici accepts (an RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * A character that keeps a header value off the fast path. Values there are visible ASCII, obs-text and
 * inner spaces/tabs, with no whitespace at either end (undici trims it): no control characters (the
 * gateway's node:http refuses those), nothing beyond latin1 (undici's TypeError).
 */
const UNPLAIN_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
/** A statusText undici accepts (RFC 9112 reason-phrase). */
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

// ---------------------------------------------------------------------------------------------- Request

/** What a request is built from: the head fields and, when there is one, the body stream. */
interface RequestParts {
  method: string;
  url: string;
  fields: readonly string[];
  body: ReadableStream<Uint8Array> | null;
  abort: AbortController | undefined;
  /** `url` as undici's URL parser serializes it, once asked for. */
  href: string | undefined;
}

/** A path and query undici's URL parser leaves as they are: no dot segments, nothing it percent-encodes. */
const PLAIN_TARGET = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*)?$/;
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?]|$)/i;
/** `http://<host>` as the URL parser serializes it (lower case, default port dropped), per Host value. */
const origins = new Map<string, string>();
/** The last origin seen, raw and serialized: one function is mostly called under one Host. */
let lastRaw = '';
let lastNormal = '';

function serializedUrl(url: string): string {
  // The runner builds `http://<host><target>`; the target starts at the first `/` after the scheme.
  let slash = lastRaw.length;
  let normal = lastNormal;
  if (!(slash > 0 && url.charCodeAt(slash) === 47 && url.startsWith(lastRaw))) {
    slash = url.indexOf('/', 7);
    if (slash === -1) return parsedHref(url);
    const origin = url.slice(0, slash);
    let known = origins.get(origin);
    if (known === undefined) {
      try {
        known = new URL(origin).origin;
      } catch {
        return url;
      }
      if (origins.size < 1000) origins.set(origin, known);
    }
    lastRaw = origin;
    lastNormal = normal = known;
  }
  const target = url.slice(slash);
  if (PLAIN_TARGET.test(target) && !DOT_SEGMENT.test(target)) return normal + target;
  return parsedHref(url);
}

function parsedHref(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

/**
 * A Request handed to a handler. Its state is in private fields (invisible to spreading, keys and
 * reflection, as undici's is); its prototype answers `method`, `url` and `headers` itself and forwards
 * everything else to undici's Request, built on first need.
 */
class LightRequestObject {
  #parts: RequestParts;
  #real: Request | undefined = undefined;
  #headers: Headers | undefined = undefined;

  constructor(parts: RequestParts) {
    this.#parts = parts;
  }

  static is(value: unknown): value is LightRequestObject {
    return value !== null && typeof value === 'object' && #parts in value;
  }

  /** `this` of a prototype member: a light request, else undici's own "Illegal invocation". */
  static check(self: unknown): LightRequestObject {
    if (!LightRequestObject.is(self)) throw new TypeError('Illegal invocation');
    return self;
  }

  static parts(self: LightRequestObject): RequestParts {
    return self.#parts;
  }

  static real(self: LightRequestObject): Request {
    let real = self.#real;
    if (!real) {
      const parts = self.#parts;
      parts.abort = new AbortController();
      const init: RequestInit & { duplex?: 'half' } = {
        method: parts.method,
        headers: LightRequestObject.headers(self),
        signal: parts.abort.signal,
      };
      if (parts.body) {
        init.body = parts.body;
        init.duplex = 'half';
      }
      real = new GlobalRequest(parts.url, init);
      self.#real = real;
    }
    return real;
  }

  static headers(self: LightRequestObject): Headers {
    if (self.#real) return self.#real.headers;
    let headers = self.#headers;
    if (!headers) {
      headers = new GlobalHeaders();
      const { fields } = self.#parts;
      for (let i = 2; i < fields.length; i += 2) headers.append(fields[i]!, fields[i + 1]!);
      self.#headers = headers;
    }
    return headers;
  }
}

Object.defineProperties(LightRequestObject.prototype, {
  method: {
    get(this: unknown) {
      return LightRequestObject.parts(LightRequestObject.check(this)).method;
    },
    enumerable: true,
    configurable: true,
  },
  url: {
    get(this: unknown) {
      const parts = LightRequestObject.parts(LightRequestObject.check(this));
      parts.href ??= serializedUrl(parts.url);
      return parts.href;
    },
    enumerable: true,
    configurable: true,
  },
  headers: {
    get(this: unknown) {
      return LightRequestObject.headers(LightRequestObject.check(this));
    },
    enumerable: true,
    configurable: true,
  },
});
delegate(GlobalRequest.prototype, LightRequestObject.prototype, (self) =>
  LightRequestObject.real(LightRequestObject.check(self)),
);

/** `new Request(lightRequest)` and `fetch(lightRequest)` must see undici's own object. */
function unwrap(input: unknown): unknown {
  return LightRequestObject.is(input) ? LightRequestObject.real(input) : input;
}

export class NimbusRequest extends GlobalRequest {
  constructor(input: RequestInput, ...rest: [RequestInit?]) {
    super(unwrap(input) as RequestInput, ...rest);
  }

  /** A Request made by undici itself (or before the runner took over `Request`) is a Request too. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // A subclass user code made keeps the ordinary check: `this` is the class `instanceof` was asked about.
    // biome-ignore lint/complexity/noThisInStatic: the class name would answer for every subclass alike
    return this === NimbusRequest ? value instanceof GlobalRequest : ordinaryInstanceOf(this, value);
  }
}
Object.defineProperty(NimbusRequest, 'name', { value: 'Request' });
Object.setPrototypeOf(LightRequestObject.prototype, NimbusRequest.prototype);
Object.defineProperty(LightRequestObject.prototype, 'constructor', {
  value: NimbusRequest,
  writable: true,
  configurable: true,
});

/** A Request for the handler, built from the protocol's head; undici's object is made only when needed. */
export function lightRequest(
  method: string,
  url: string,
  fields: readonly string[],
  body: ReadableStream<Uint8Array> | null,
): Request {
  return new LightRequestObject({
    method,
    url,
    fields,
    body,
    abort: undefined,
    href: undefined,
  }) as unknown as Request;
}

/** Aborts a light request's signal (when the handler ever looked at it). */
export function cancelRequest(request: Request, reason: Error): void {
  if (LightRequestObject.is(request)) LightRequestObject.parts(request).abort?.abort(reason);
}

type RequestInput = ConstructorParameters<typeof Request>[0];

// --------------------------------------------------------------------------------------------- Response

type BodyInitLike = ConstructorParameters<typeof Response>[0];

/** A response undici would build exactly as given, snapshotted at construction (undici copies too). */
interface PlainParts {
  status: number;
  statusText: string;
  /** name, value, name, value, … names lower-case, as undici's Headers gives them. */
  headers: string[];
  body: string | Uint8Array | null;
  /** The content type undici adds for this body when the headers have none. */
  defaultType: string | undefined;
}

/** The snapshot of a LightResponse while undici's object was never needed, else undefined. */
let plainOf: (value: unknown) => PlainParts | undefined;
/** undici's Response of `this` of a prototype member (built on first need); TypeError for anything else. */
let realOf: (self: unknown) => Response;

/** A Response that keeps a snapshot of a plain construction and builds undici's Response only when asked. */
export class LightResponse {
  #plain: PlainParts | undefined;
  #real: Response | undefined;

  constructor(...args: [body?: BodyInitLike, init?: ResponseInit]) {
    const [body, init] = args as [unknown, unknown];
    if (body === kFromPlain) {
      this.#plain = init as PlainParts;
      this.#real = undefined;
      return;
    }
    if (body === kWrap) {
      this.#plain = undefined;
      this.#real = init as Response;
      return;
    }
    const plain = plainParts(body, init, undefined);
    this.#plain = plain;
    // Anything else goes to undici now, so its checks throw here, as `new Response` does.
    this.#real = plain ? undefined : new GlobalResponse(args[0], args[1]);
  }

  static error(): Response {
    return wrap(GlobalResponse.error());
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data) as string | undefined;
    const plain = text === undefined ? undefined : plainParts(text, init, 'application/json');
    return plain
      ? (new LightResponse(
          kFromPlain as unknown as BodyInitLike,
          plain as unknown as ResponseInit,
        ) as unknown as Response)
      : wrap(GlobalResponse.json(data, init));
  }

  static redirect(url: string | URL, status?: number): Response {
    return wrap(GlobalResponse.redirect(url, status as Parameters<typeof Response.redirect>[1]));
  }

  /** undici's own Responses (from `fetch`, or made before the runner took over `Response`) are Responses too. */
  static [Symbol.hasInstance](value: unknown): boolean {
    // A subclass user code made keeps the ordinary check: `this` is the class `instanceof` was asked about.
    // biome-ignore lint/complexity/noThisInStatic: the class name would answer for every subclass alike
    return this === LightResponse ? value instanceof GlobalResponse : ordinaryInstanceOf(this, value);
  }

  // The runner's access to the private state, kept off the class (its statics are undici's three).
  static {
    plainOf = (value) => {
      if (value === null || typeof value !== 'object' || !(#plain in value)) return undefined;
      return value.#real ? undefined : value.#plain;
    };
    realOf = (self) => {
      if (self === null || typeof self !== 'object' || !(#plain in self))
        throw new TypeError('Illegal invocation');
      let real = self.#real;
      if (!real) {
        const plain = self.#plain!;
        const headers = new GlobalHeaders();
        for (let i = 0; i < plain.headers.length; i += 2)
          headers.append(plain.headers[i]!, plain.headers[i + 1]!);
        real = new GlobalResponse(plain.body, {
          status: plain.status,
          statusText: plain.statusText,
          headers,
        });
        self.#real = real;
      }
      return real;
    };
  }
}
Object.defineProperty(LightResponse, 'name', { value: 'Response' });

/** A LightResponse around an undici Response, so its constructor is the global `Response`. */
function wrap(real: Response): Response {
  return new LightResponse(
    kWrap as unknown as BodyInitLike,
    real as unknown as ResponseInit,
  ) as unknown as Response;
}

delegate(GlobalResponse.prototype, LightResponse.prototype, (self) => realOf(self));
Object.setPrototypeOf(LightResponse, GlobalResponse);
Object.setPrototypeOf(LightResponse.prototype, GlobalResponse.prototype);

/**
 * The parts of `new Response(body, init)` when undici would take them exactly as given: a string, bytes
 * or no body; an init of plain values (an integer status 200–599, a plain statusText) and headers as a
 * Headers, a record or a list of pairs whose names and values need no normalising. Undefined otherwise
 * (then undici builds it, and throws where it must). `jsonType`: Response.json's content type.
 */
function plainParts(body: unknown, init: unknown, jsonType: string | undefined): PlainParts | undefined {
  let status = 200;
  let statusText = '';
  let headers: string[] = [];
  if (init !== undefined && init !== null) {
    if (typeof init !== 'object') return undefined;
    const i = init as { status?: unknown; statusText?: unknown; headers?: unknown };
    if (i.status !== undefined) {
      if (typeof i.status !== 'number' || !Number.isInteger(i.status) || i.status < 200 || i.status > 599)
        return undefined;
      status = i.status;
    }
    if (i.statusText !== undefined) {
      if (typeof i.statusText !== 'string' || !REASON.test(i.statusText)) return undefined;
      statusText = i.statusText;
    }
    if (i.headers !== undefined) {
      const pairs = headerPairs(i.headers);
      if (!pairs) return undefined;
      headers = pairs;
    }
  }
  let defaultType: string | undefined;
  if (body === null || body === undefined) {
    // no body
  } else if (typeof body === 'string') defaultType = jsonType ?? 'text/plain;charset=UTF-8';
  else if (!(body instanceof Uint8Array) && !(body instanceof ArrayBuffer)) return undefined;
  // A body with a null-body status is undici's TypeError (an empty string is a body too).
  if (body !== null && body !== undefined && (status === 204 || status === 205 || status === 304))
    return undefined;
  if (jsonType !== undefined && !hasName(headers, 'content-type')) headers.push('content-type', jsonType);
  return {
    status,
    statusText,
    headers,
    body:
      body === null || body === undefined
        ? null
        : body instanceof ArrayBuffer
          ? new Uint8Array(body)
          : (body as string | Uint8Array),
    defaultType: jsonType === undefined ? defaultType : undefined,
  };
}

/** Valid header names seen, and their lower case: handlers send the same few names every time. */
const headerNames = new Map<string, string>();

/** The lower case of a header name undici accepts, else undefined. */
function headerName(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  let lower = headerNames.get(name);
  if (lower === undefined) {
    if (!TOKEN.test(name)) return undefined;
    lower = name.toLowerCase();
    if (headerNames.size < 1000) headerNames.set(name, lower);
  }
  return lower;
}

/** A header value undici keeps exactly as given (see UNPLAIN_VALUE_CHAR), else undefined. */
function headerValue(value: unknown): string | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return undefined;
  const last = text.length - 1;
  if (last >= 0 && (text.charCodeAt(0) <= 32 || text.charCodeAt(last) <= 32)) return undefined;
  return UNPLAIN_VALUE_CHAR.test(text) ? undefined : text;
}

/** Header pairs with lower-case names, or undefined when undici might normalise or refuse one. */
function headerPairs(init: unknown): string[] | undefined {
  const out: string[] = [];
  if (init instanceof GlobalHeaders) {
    // Already checked by undici: a snapshot, as the Response constructor takes one.
    for (const [name, value] of init) if (name !== 'set-cookie') out.push(name, value);
    for (const cookie of init.getSetCookie()) out.push('set-cookie', cookie);
    return out;
  }
  if (Array.isArray(init)) {
    for (const pair of init as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) return undefined;
      const name = headerName(pair[0]);
      const value = headerValue(pair[1]);
      if (name === undefined || value === undefined) return undefined;
      out.push(name, value);
    }
    return out;
  }
  if (typeof init !== 'object' || init === null) return undefined;
  const proto = Object.getPrototypeOf(init);
  if (proto !== Object.prototype && proto !== null) return undefined;
  // Symbol keys: undici's record conversion decides (it refuses enumerable ones).
  if (Object.getOwnPropertySymbols(init).length > 0) return undefined;
  const record = init as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const name = headerName(key);
    const value = headerValue(record[key]);
    if (name === undefined || value === undefined) return undefined;
    out.push(name, value);
  }
  return out;
}

function hasName(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------- shared

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

function ordinaryInstanceOf(klass: unknown, value: unknown): boolean {
  return ordinaryHasInstance.call(klass, value);
}

/**
 * Defines every method and accessor of undici's prototype on `target` (each with its enumerability, so
 * `for…in` and spreading see what they see on undici's objects), forwarding to the undici object.
 */
function delegate(source: object, target: object, real: (self: unknown) => object): void {
  for (const key of Reflect.ownKeys(source)) {
    if (key === 'constructor' || key === Symbol.toStringTag || Object.hasOwn(target, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(source, key)!;
    if (typeof descriptor.value === 'function') {
      const method = descriptor.value as (...a: unknown[]) => unknown;
      Object.defineProperty(target, key, {
        value: {
          [key as string](this: unknown, ...args: unknown[]) {
            return method.apply(real(this), args);
          },
        }[key as string],
        enumerable: descriptor.enumerable ?? false,
        writable: true,
        configurable: true,
      });
    } else if (descriptor.get) {
      const get = descriptor.get;
      Object.defineProperty(target, key, {
        get(this: unknown) {
          return get.call(real(this));
        },
        enumerable: descriptor.enumerable ?? false,
        configurable: true,
      });
    }
  }
}

/**
 * Makes `new Response(...)` in user code build a LightResponse, and `Request`/`fetch` accept the light
 * requests the runner hands out (instanceof Request and Response still hold).
 */
export function installLightWeb(): void {
  const globalFetch = globalThis.fetch;
  const define = (name: string, value: unknown) =>
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  define('Response', LightResponse);
  define('Request', NimbusRequest);
  define('fetch', function fetch(input: RequestInput, init?: RequestInit) {
    return globalFetch(unwrap(input) as RequestInput, init);
  });
}

/**
 * The response as head fields and body bytes without touching undici, when the handler built a plain
 * one (see plainParts) and nothing read it since; undefined when the slow path must read it.
 */
export function plainResponse(response: unknown): { head: string[]; body: Uint8Array | null } | undefined {
  const plain = plainOf(response);
  if (!plain) return undefined;
  const head = [String(plain.status), ...plain.headers];
  const body = typeof plain.body === 'string' ? Buffer.from(plain.body) : plain.body;
  if (plain.defaultType !== undefined && body !== null && !hasName(plain.headers, 'content-type'))
    head.push('content-type', plain.defaultType);
  return { head, body };
}

/** Loads undici now (Node 20 loads it on first use of fetch's classes, which costs tens of ms). */
export function warmWebClasses(): void {
  const headers = new GlobalHeaders({ a: 'b' });
  const request = new GlobalRequest('http://localhost/', { headers, method: 'POST', body: 'x' });
  void request.text();
  void new GlobalResponse('x').text();
}
