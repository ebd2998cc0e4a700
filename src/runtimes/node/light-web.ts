// Lightweight Request and Response for the runner's hot path. On Node 20, constructing undici's
// Request (above all with an AbortSignal) and Response, and reading a Response body through its stream,
// cost tens of microseconds per call. These classes are real subclasses as far as user code can tell
// (instanceof, every property and method) but build the undici object only when something needs it;
// the runner reads a plain body and headers straight from what the handler passed in.

const GlobalRequest = globalThis.Request;
const GlobalResponse = globalThis.Response;
const GlobalHeaders = globalThis.Headers;

const kReal = Symbol('nimbus.real');
/** Characters that must not reach the head encoding (NUL separates fields) or an HTTP header. */
const UNSAFE_HEADER = /[\0\r\n]/;
const kInit = Symbol('nimbus.init');

/** What a request is built from: the head fields and, when there is one, the body stream. */
interface RequestParts {
  method: string;
  url: string;
  fields: readonly string[];
  body: ReadableStream<Uint8Array> | null;
  abort: AbortController | undefined;
}

interface LightRequest {
  [kInit]: RequestParts;
  [kReal]: Request | undefined;
  _headers?: Headers;
}

function realRequest(self: LightRequest): Request {
  let real = self[kReal];
  if (!real) {
    const parts = self[kInit];
    parts.abort = new AbortController();
    const init: RequestInit & { duplex?: 'half' } = {
      method: parts.method,
      headers: lightRequestHeaders(self),
      signal: parts.abort.signal,
    };
    if (parts.body) {
      init.body = parts.body;
      init.duplex = 'half';
    }
    real = new GlobalRequest(parts.url, init);
    self[kReal] = real;
  }
  return real;
}

function lightRequestHeaders(self: LightRequest): Headers {
  if (self[kReal]) return self[kReal].headers;
  if (!self._headers) {
    const headers = new GlobalHeaders();
    const { fields } = self[kInit];
    for (let i = 2; i < fields.length; i += 2) headers.append(fields[i]!, fields[i + 1]!);
    self._headers = headers;
  }
  return self._headers;
}

const requestPrototype: Record<PropertyKey, unknown> = {};
Object.defineProperties(requestPrototype, {
  method: {
    get(this: LightRequest) {
      return this[kInit].method;
    },
  },
  url: {
    get(this: LightRequest) {
      return this[kInit].url;
    },
  },
  headers: {
    get(this: LightRequest) {
      return lightRequestHeaders(this);
    },
  },
});
for (const key of Object.getOwnPropertyNames(GlobalRequest.prototype)) {
  if (key === 'constructor' || key in requestPrototype) continue;
  const descriptor = Object.getOwnPropertyDescriptor(GlobalRequest.prototype, key)!;
  if (typeof descriptor.value === 'function') {
    Object.defineProperty(requestPrototype, key, {
      value(this: LightRequest, ...args: unknown[]) {
        const real = realRequest(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
        return real[key]!(...args);
      },
    });
  } else if (descriptor.get) {
    Object.defineProperty(requestPrototype, key, {
      get(this: LightRequest) {
        return (realRequest(this) as unknown as Record<string, unknown>)[key];
      },
    });
  }
}
/** `new Request(lightRequest)` and `fetch(lightRequest)` must see undici's own object. */
function unwrap(input: unknown): unknown {
  return input !== null && typeof input === 'object' && kInit in input
    ? realRequest(input as LightRequest)
    : input;
}

export class NimbusRequest extends GlobalRequest {
  constructor(input: RequestInput, init?: RequestInit) {
    super(unwrap(input) as RequestInput, init);
  }
}
Object.setPrototypeOf(requestPrototype, NimbusRequest.prototype);

/** A Request for the handler, built from the protocol's head; undici's object is made only when needed. */
export function lightRequest(
  method: string,
  url: string,
  fields: readonly string[],
  body: ReadableStream<Uint8Array> | null,
): Request {
  const self = Object.create(requestPrototype) as LightRequest;
  self[kInit] = { method, url, fields, body, abort: undefined };
  self[kReal] = undefined;
  return self as unknown as Request;
}

/** Aborts a light request's signal (when the handler ever looked at it). */
export function cancelRequest(request: Request, reason: Error): void {
  (request as unknown as LightRequest)[kInit].abort?.abort(reason);
}

type RequestInput = ConstructorParameters<typeof Request>[0];
type BodyInitLike = ConstructorParameters<typeof Response>[0];

/** A Response that keeps its constructor arguments and builds undici's Response only when asked. */
export class LightResponse {
  [kInit]: [BodyInitLike, ResponseInit | undefined];
  [kReal]: Response | undefined;

  constructor(body?: BodyInitLike, init?: ResponseInit) {
    this[kInit] = [body, init];
    this[kReal] = undefined;
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const headers = new GlobalHeaders(init?.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new LightResponse(JSON.stringify(data), { ...init, headers }) as unknown as Response;
  }

  static error(): Response {
    return GlobalResponse.error();
  }

  static redirect(url: string | URL, status?: number): Response {
    return GlobalResponse.redirect(url, status as Parameters<typeof Response.redirect>[1]);
  }
}

function realResponse(self: LightResponse): Response {
  let real = self[kReal];
  if (!real) {
    const [body, init] = self[kInit];
    real = new GlobalResponse(body, init);
    self[kReal] = real;
  }
  return real;
}

for (const key of Object.getOwnPropertyNames(GlobalResponse.prototype)) {
  if (key === 'constructor') continue;
  const descriptor = Object.getOwnPropertyDescriptor(GlobalResponse.prototype, key)!;
  if (typeof descriptor.value === 'function') {
    Object.defineProperty(LightResponse.prototype, key, {
      value(this: LightResponse, ...args: unknown[]) {
        const real = realResponse(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
        return real[key]!(...args);
      },
    });
  } else if (descriptor.get) {
    Object.defineProperty(LightResponse.prototype, key, {
      get(this: LightResponse) {
        return (realResponse(this) as unknown as Record<string, unknown>)[key];
      },
    });
  }
}
Object.setPrototypeOf(LightResponse, GlobalResponse);
Object.setPrototypeOf(LightResponse.prototype, GlobalResponse.prototype);

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
  define('fetch', (input: RequestInput, init?: RequestInit) =>
    globalFetch(unwrap(input) as RequestInput, init),
  );
}

/**
 * The response as head fields and body bytes without touching undici, when the handler gave a plain
 * body (string, bytes or none) and plain headers; undefined when the slow path must read it.
 */
export function plainResponse(response: unknown): { head: string[]; body: Uint8Array | null } | undefined {
  if (!(response instanceof LightResponse) || response[kReal]) return undefined;
  const [body, init] = response[kInit];
  let bytes: Uint8Array | null;
  let defaultType: string | undefined;
  if (body === null || body === undefined) bytes = null;
  else if (typeof body === 'string') {
    bytes = Buffer.from(body);
    defaultType = 'text/plain;charset=UTF-8';
  } else if (body instanceof Uint8Array) bytes = body;
  else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
  else return undefined;
  const status = init?.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  // Null-body statuses with a body, and header values undici would refuse, take the checked path.
  if (bytes !== null && (status === 204 || status === 205 || status === 304)) return undefined;
  const head = [String(status)];
  let hasType = false;
  let clean = true;
  const add = (name: string, value: string) => {
    const lower = name.toLowerCase();
    const text = String(value);
    if (UNSAFE_HEADER.test(lower) || UNSAFE_HEADER.test(text)) clean = false;
    if (lower === 'content-type') hasType = true;
    head.push(lower, text);
  };
  const headers = init?.headers;
  if (headers === undefined) {
    // no headers
  } else if (headers instanceof GlobalHeaders) {
    for (const [name, value] of headers) if (name !== 'set-cookie') add(name, value);
    for (const cookie of headers.getSetCookie()) add('set-cookie', cookie);
  } else if (Array.isArray(headers)) {
    for (const pair of headers) add(pair[0]!, pair[1]!);
  } else {
    for (const name of Object.keys(headers)) add(name, (headers as Record<string, string>)[name]!);
  }
  if (!clean) return undefined;
  if (!hasType && defaultType) head.push('content-type', defaultType);
  return { head, body: bytes };
}

/** Loads undici now (Node 20 loads it on first use of fetch's classes, which costs tens of ms). */
export function warmWebClasses(): void {
  const headers = new GlobalHeaders({ a: 'b' });
  const request = new GlobalRequest('http://localhost/', { headers, method: 'POST', body: 'x' });
  void request.text();
  void new GlobalResponse('x').text();
}
