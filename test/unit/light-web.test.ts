// The runner's light Request and Response against undici's: every operation in these tables runs on both,
// and both must give the same value or throw the same error. The light response's fast path (what the
// runner sends without building undici's object) must carry what undici's Response would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LightResponse,
  lightRequest,
  NimbusRequest,
  plainResponse,
} from '../../src/runtimes/node/light-web.js';

const RealRequest = globalThis.Request;
const RealResponse = globalThis.Response;
type ResponseClass = typeof Response;
type BodyInit = NonNullable<ConstructorParameters<typeof Response>[0]>;
type HeadersInit = NonNullable<ConstructorParameters<typeof Headers>[0]>;
/** Cases whose error message names a class as V8 spells it (undici's bundle calls its class `_Response`): the error's type must match. */
const ERROR_TYPE_ONLY = new Set(['calling without new']);

/** What an operation gave, comparable across the two implementations. */
async function outcome(run: () => unknown): Promise<unknown> {
  try {
    return { value: await describe(await run()) };
  } catch (err) {
    const e = err as Error;
    return { threw: `${e?.name}: ${e?.message}` };
  }
}

function errorType(result: unknown): unknown {
  const threw = (result as { threw?: string }).threw;
  return threw === undefined ? result : { threw: threw.slice(0, threw.indexOf(':')) };
}

async function describe(value: unknown): Promise<unknown> {
  if (value instanceof RealResponse) {
    return {
      response: {
        status: value.status,
        statusText: value.statusText,
        ok: value.ok,
        type: value.type,
        url: value.url,
        redirected: value.redirected,
        headers: [...value.headers],
        hasBody: value.body !== null,
        body: value.bodyUsed ? '(used)' : await value.text(),
      },
    };
  }
  if (value instanceof ArrayBuffer) return { bytes: [...new Uint8Array(value)] };
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (typeof value === 'function') return `function ${value.name}`;
  if (typeof value === 'bigint' || typeof value === 'symbol') return String(value);
  return value;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const streamOf = (bytes: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });

// Each case gets the Response class under test.
const RESPONSE_CASES: Record<string, (R: ResponseClass) => unknown> = {
  'no arguments': (R) => new R(),
  'null body': (R) => new R(null),
  'string body': (R) => new R('hello'),
  'empty string': (R) => new R(''),
  'Uint8Array body': (R) => new R(utf8('bytes')),
  'Buffer body': (R) => new R(Buffer.from('buffer')),
  'subarray body': (R) => new R(utf8('0123456789').subarray(2, 5)),
  'ArrayBuffer body': (R) => new R(utf8('ab').buffer),
  'DataView body': (R) => new R(new DataView(utf8('dv').buffer)),
  'Blob body': (R) => new R(new Blob(['blob'], { type: 'text/x-blob' })),
  'URLSearchParams body': (R) => new R(new URLSearchParams({ a: '1 2' })),
  'FormData body': async (R) => {
    const form = new FormData();
    form.set('a', 'b');
    const res = new R(form);
    return [
      res.headers.get('content-type')?.startsWith('multipart/form-data; boundary='),
      (await res.text()).includes('name="a"'),
    ];
  },
  'ReadableStream body': (R) => new R(streamOf(utf8('streamed'))),
  'object body is stringified': (R) => new R({ a: 1 } as unknown as BodyInit),
  'number body': (R) => new R(5 as unknown as BodyInit),
  'init undefined': (R) => new R('x', undefined),
  'init null': (R) => new R('x', null as unknown as ResponseInit),
  'init a string (the Hono onError case)': (R) => new R(undefined, 'str' as unknown as ResponseInit),
  'init a number': (R) => new R('x', 42 as unknown as ResponseInit),
  'init a function': (R) => new R('x', (() => {}) as unknown as ResponseInit),
  'init with unknown keys': (R) => new R('x', { status: 201, cf: { a: 1 } } as ResponseInit),
  'status 199': (R) => new R('x', { status: 199 }),
  'status 200': (R) => new R('x', { status: 200 }),
  'status 599': (R) => new R('x', { status: 599 }),
  'status 600': (R) => new R('x', { status: 600 }),
  'status 101': (R) => new R(null, { status: 101 }),
  'status as a string': (R) => new R('x', { status: '201' as unknown as number }),
  'status with a fraction': (R) => new R('x', { status: 201.5 }),
  'status NaN': (R) => new R('x', { status: Number.NaN }),
  'status -1': (R) => new R('x', { status: -1 }),
  'status 65736 wraps to 200': (R) => new R('x', { status: 65_736 }),
  'status 204 without body': (R) => new R(null, { status: 204 }),
  'status 204 with a body': (R) => new R('x', { status: 204 }),
  'status 204 with an empty string': (R) => new R('', { status: 204 }),
  'status 205 with a body': (R) => new R(utf8('x'), { status: 205 }),
  'status 304 with a body': (R) => new R('x', { status: 304 }),
  'status 304 without body': (R) => new R(undefined, { status: 304 }),
  statusText: (R) => new R('x', { status: 418, statusText: "I'm a teapot" }),
  'statusText with a newline': (R) => new R('x', { statusText: 'a\nb' }),
  'statusText beyond latin1': (R) => new R('x', { statusText: 'Ā' }),
  'statusText obs-text': (R) => new R('x', { statusText: 'caf\u00e9' }),
  'statusText a number': (R) => new R('x', { statusText: 5 as unknown as string }),
  'headers record': (R) => new R('x', { headers: { 'Content-Type': 'text/html', 'X-A': 'b' } }),
  'headers record with a number': (R) =>
    new R('x', { headers: { 'content-length': 1 } as unknown as HeadersInit }),
  'headers invalid name': (R) => new R('x', { headers: { 'a b': 'x' } }),
  'headers empty name': (R) => new R('x', { headers: { '': 'x' } }),
  'headers value with a newline': (R) => new R('x', { headers: { a: 'x\ny' } }),
  'headers value with a NUL': (R) => new R('x', { headers: { a: 'x\0y' } }),
  'headers value with a CR': (R) => new R('x', { headers: { a: 'x\ry' } }),
  'headers value beyond latin1': (R) => new R('x', { headers: { a: 'ĀĀ' } }),
  'headers value obs-text': (R) => new R('x', { headers: { a: 'caf\u00e9' } }),
  'headers value with outer spaces': (R) => new R('x', { headers: { a: ' x \t' } }),
  'headers value with inner tab': (R) => new R('x', { headers: { a: 'x\ty' } }),
  'headers value with a control character': (R) => new R('x', { headers: { a: 'x\u0001y' } }),
  'headers empty value': (R) => new R('x', { headers: { a: '' } }),
  'headers value undefined': (R) => new R('x', { headers: { a: undefined } as unknown as HeadersInit }),
  'headers duplicate names by case': (R) => new R('x', { headers: { A: '1', a: '2' } }),
  'headers pairs': (R) =>
    new R('x', {
      headers: [
        ['a', '1'],
        ['a', '2'],
        ['set-cookie', 'c=1'],
        ['set-cookie', 'd=2'],
      ],
    }),
  'headers pair of three': (R) => new R('x', { headers: [['a', '1', '2']] as unknown as HeadersInit }),
  'headers pair not an array': (R) => new R('x', { headers: ['ab'] as unknown as HeadersInit }),
  'headers a Headers object': (R) => {
    const h = new Headers([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-one', '1'],
    ]);
    return new R('x', { headers: h });
  },
  'headers a Map': (R) => new R('x', { headers: new Map([['a', '1']]) as unknown as HeadersInit }),
  'headers null': (R) => new R('x', { headers: null as unknown as HeadersInit }),
  'headers a string': (R) => new R('x', { headers: 'a: b' as unknown as HeadersInit }),
  'headers with a symbol key': (R) =>
    new R('x', { headers: { [Symbol('s')]: 'x', a: 'b' } as unknown as HeadersInit }),
  'headers a class instance': (R) => {
    class H {
      a = '1';
    }
    return new R('x', { headers: new H() as unknown as HeadersInit });
  },
  'headers with a getter': (R) =>
    new R('x', { headers: Object.defineProperty({}, 'a', { get: () => 'got', enumerable: true }) }),
  'content-type given with a string body': (R) =>
    new R('x', { headers: { 'content-type': 'application/xml' } }),
  'the init object changed after construction': (R) => {
    const init = { status: 201, headers: { a: '1' } as Record<string, string> };
    const res = new R('x', init);
    init.status = 500;
    init.headers.a = '2';
    init.headers.b = '3';
    return res;
  },
  'a Headers init changed after construction': (R) => {
    const headers = new Headers({ a: '1' });
    const res = new R('x', { headers });
    headers.set('a', '2');
    return res;
  },
  'headers changed through res.headers': (R) => {
    const res = new R('x', { headers: { a: '1' } });
    res.headers.set('b', '2');
    res.headers.delete('a');
    return res;
  },
  'immutable headers of an error response': (R) => {
    const res = R.error();
    res.headers.set('a', 'b');
    return res;
  },
  'Response.json': (R) => R.json({ a: [1, 'b'] }),
  'Response.json with init': (R) => R.json({ a: 1 }, { status: 201, headers: { 'x-a': 'b' } }),
  'Response.json keeps a content type': (R) =>
    R.json(1, { headers: { 'content-type': 'application/vnd.api+json' } }),
  'Response.json with a Headers init': (R) =>
    R.json('s', { headers: new Headers({ 'Content-Type': 'text/x' }) }),
  'Response.json of undefined': (R) => R.json(undefined),
  'Response.json of a function': (R) => R.json(() => 1),
  'Response.json of a BigInt': (R) => R.json(1n),
  'Response.json of a circular object': (R) => {
    const a: Record<string, unknown> = {};
    a.self = a;
    return R.json(a);
  },
  'Response.json with a string init': (R) => R.json({}, 'x' as unknown as ResponseInit),
  'Response.json with status 204': (R) => R.json({}, { status: 204 }),
  'Response.json with a bad header': (R) => R.json({}, { headers: { 'a b': '1' } }),
  'Response.error': (R) => R.error(),
  'Response.redirect': (R) => R.redirect('http://example.com/a b', 301),
  'Response.redirect default status': (R) =>
    (R.redirect as (url: string) => Response)('https://example.com/'),
  'Response.redirect with 200': (R) => R.redirect('http://example.com/', 200 as 301),
  'Response.redirect to a bad URL': (R) => R.redirect('not a url', 302),
  'text twice': async (R) => {
    const res = new R('once');
    const first = await res.text();
    return [first, res.bodyUsed, await res.text()];
  },
  'bodyUsed of a fresh response': (R) => new R('x').bodyUsed,
  'bodyUsed without a body after text()': async (R) => {
    const res = new R(null);
    await res.text();
    return [res.bodyUsed, await res.text()];
  },
  'json() of a body': (R) => new R('{"a":1}').json(),
  'json() of a bad body': (R) => new R('{').json(),
  'arrayBuffer()': (R) => new R('ab').arrayBuffer(),
  'blob()': async (R) => {
    const blob = await new R('ab', { headers: { 'content-type': 'text/x' } }).blob();
    return [blob.type, blob.size];
  },
  'formData() of urlencoded': async (R) => {
    const form = await new R('a=1&b=2', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }).formData();
    return [...form];
  },
  'clone then read both': async (R) => {
    const res = new R('cloned', { status: 202, headers: { a: 'b' } });
    const copy = res.clone();
    return [await res.text(), await copy.text(), copy.status, [...copy.headers], copy instanceof R];
  },
  'clone after the body was read': async (R) => {
    const res = new R('x');
    await res.text();
    return res.clone();
  },
  'text() of a locked body': async (R) => {
    const res = new R('x');
    res.body!.getReader();
    return [res.bodyUsed, await res.text()];
  },
  'body stream read by hand': async (R) => {
    const res = new R('by hand');
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    return [new TextDecoder().decode(value), res.bodyUsed];
  },
  'body of a null-body response': (R) => new R(null).body,
  'class name and length': (R) => [R.name, R.length],
  'instanceof both ways': (R) => [
    new R('x') instanceof R,
    new R('x') instanceof RealResponse,
    new RealResponse('x') instanceof R,
    R.error() instanceof R,
    {} instanceof R,
  ],
  'constructor and prototype': (R) => [
    new R('x').constructor === R,
    Object.getPrototypeOf(new R('x')) === R.prototype,
  ],
  toStringTag: (R) => [Object.prototype.toString.call(new R('x')), String(new R('x'))],
  // String keys: undici keeps its state under enumerable symbols, an implementation detail.
  'own keys': (R) => [Object.keys(new R('x')), JSON.stringify(new R('x')), Object.keys({ ...new R('x') })],
  'for…in keys': (R) => {
    const keys: string[] = [];
    for (const key in new R('x')) keys.push(key);
    return keys;
  },
  'static methods': (R) =>
    Object.getOwnPropertyNames(R).filter(
      (k) => typeof (R as unknown as Record<string, unknown>)[k] === 'function',
    ),
  'prototype methods': (R) => Object.keys(R.prototype),
  'a subclass': async (R) => {
    class Mine extends R {
      extra() {
        return 'extra';
      }
    }
    const res = new Mine('sub', { status: 201 });
    return [
      res instanceof R,
      res instanceof Mine,
      new R('plain') instanceof Mine,
      R.error() instanceof Mine,
      res.extra(),
      res.status,
      await res.text(),
    ];
  },
  'calling without new': (R) => (R as unknown as (b: string) => unknown)('x'),
  'a prototype method on a foreign object': (R) => R.prototype.text.call({}),
};

test('Response: the light class and undici give the same values and errors', async () => {
  const differences: string[] = [];
  for (const [name, run] of Object.entries(RESPONSE_CASES)) {
    let real = await outcome(() => run(RealResponse));
    let light = await outcome(() => run(LightResponse as unknown as ResponseClass));
    if (ERROR_TYPE_ONLY.has(name)) [real, light] = [errorType(real), errorType(light)];
    try {
      assert.deepEqual(light, real);
    } catch {
      differences.push(`${name}:\n  undici: ${JSON.stringify(real)}\n  light:  ${JSON.stringify(light)}`);
    }
  }
  assert.deepEqual(differences, [], differences.join('\n'));
});

/** Header pairs as a client receives them: names lower-case, sorted, repeated names joined as undici joins them. */
function asReceived(pairs: readonly string[]): [string, string][] {
  const headers = new Headers();
  for (let i = 0; i < pairs.length; i += 2) headers.append(pairs[i]!, pairs[i + 1]!);
  return [...headers];
}

test('Response: what the runner sends from the fast path is what undici would send', async () => {
  let fast = 0;
  for (const [name, run] of Object.entries(RESPONSE_CASES)) {
    let light: unknown;
    try {
      light = await run(LightResponse as unknown as ResponseClass);
    } catch {
      continue;
    }
    const plain = plainResponse(light);
    if (!plain) continue;
    fast++;
    const real = (await run(RealResponse)) as Response;
    assert.equal(plain.head[0], String(real.status), name);
    assert.deepEqual(asReceived(plain.head.slice(1)), [...real.headers], name);
    assert.deepEqual([...(plain.body ?? [])], [...new Uint8Array(await real.arrayBuffer())], name);
  }
  // The common constructions take the fast path.
  assert.ok(fast >= 20, `${fast} cases took the fast path`);
  for (const make of [
    () => new LightResponse('x'),
    () => new LightResponse(null, { status: 204 }),
    () => new LightResponse(utf8('x'), { status: 201, headers: { 'content-type': 'a/b' } }),
    () => new LightResponse('x', { headers: new Headers({ a: 'b' }) }),
    () => LightResponse.json({ a: 1 }, { status: 201 }),
  ]) {
    assert.ok(plainResponse(make()), String(make));
  }
  // What undici normalises or refuses, and what was read, takes the slow path.
  assert.equal(plainResponse(new LightResponse('x', { headers: { a: ' padded ' } })), undefined);
  assert.equal(plainResponse(new LightResponse(new Blob(['x']))), undefined);
  const read = new LightResponse('x') as unknown as Response;
  await read.text();
  assert.equal(plainResponse(read), undefined);
  const touched = new LightResponse('x') as unknown as Response;
  touched.headers.set('late', 'yes');
  assert.equal(plainResponse(touched), undefined);
});

interface RequestSpec {
  method?: string;
  host?: string;
  target?: string;
  headers?: [string, string][];
  body?: string;
}

/** The same incoming request as undici builds it and as the runner hands it out. */
function requests(spec: RequestSpec): { real: () => Request; light: () => Request } {
  const method = spec.method ?? 'POST';
  const host = spec.host ?? '127.0.0.1:8080';
  const target = spec.target ?? '/path?q=1';
  const headers: [string, string][] = [['host', host], ...(spec.headers ?? [['content-type', 'text/plain']])];
  const body = spec.body ?? (method === 'GET' || method === 'HEAD' ? undefined : 'the body');
  const url = `http://${host}${target}`;
  return {
    real: () =>
      new RealRequest(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: streamOf(utf8(body)), duplex: 'half' }),
      } as RequestInit),
    light: () =>
      lightRequest(
        method,
        url,
        [method, target, ...headers.flat()],
        body === undefined ? null : streamOf(utf8(body)),
      ),
  };
}

const REQUEST_CASES: Record<string, [RequestSpec, (req: Request, R: typeof Request) => unknown]> = {
  'method, url, headers': [{}, (req) => [req.method, req.url, [...req.headers]]],
  'url: upper-case host': [{ host: 'Example.COM' }, (req) => req.url],
  'url: default port': [{ host: 'example.com:80' }, (req) => req.url],
  'url: IPv6 host': [{ host: '[::1]:8080' }, (req) => req.url],
  'url: short IPv4': [{ host: '127.1' }, (req) => req.url],
  'url: dot segments': [{ target: '/a/./b/../c' }, (req) => req.url],
  'url: encoded dot segment': [{ target: '/a/%2E%2e/c' }, (req) => req.url],
  'url: a trailing dot segment': [{ target: '/a/..' }, (req) => req.url],
  'url: dots in names': [{ target: '/a.b/..c/.d' }, (req) => req.url],
  'url: characters the parser encodes': [{ target: '/a"b<c>{d}`e|f^g' }, (req) => req.url],
  'url: query characters': [{ target: '/p?a=\'"<>{}|^`' }, (req) => req.url],
  'url: backslash': [{ target: '/a\\b' }, (req) => req.url],
  'url: latin1 bytes': [{ target: '/caf\u00c3\u00a9' }, (req) => req.url],
  'url: empty query': [{ target: '/a?' }, (req) => req.url],
  'url: percent escapes kept': [{ target: '/a%20b%7E?x=%41' }, (req) => req.url],
  'url: double slash': [{ target: '//a//b' }, (req) => req.url],
  'method GET without body': [{ method: 'GET' }, async (req) => [req.method, req.body, await req.text()]],
  'text and bodyUsed': [{}, async (req) => [req.bodyUsed, await req.text(), req.bodyUsed]],
  'text twice': [{}, async (req) => [await req.text(), await req.text()]],
  'json of a JSON body': [{ body: '{"a":[1]}' }, (req) => req.json()],
  'json of a bad body': [{ body: '{' }, (req) => req.json()],
  arrayBuffer: [{}, (req) => req.arrayBuffer()],
  'formData of urlencoded': [
    { headers: [['content-type', 'application/x-www-form-urlencoded']], body: 'a=1&b=x+y' },
    async (req) => [...(await req.formData())],
  ],
  'clone then read both': [
    {},
    async (req) => {
      const copy = req.clone();
      return [await req.text(), await copy.text(), copy.url, copy.method];
    },
  ],
  'clone after the body was read': [
    {},
    async (req) => {
      await req.text();
      return req.clone();
    },
  ],
  'new Request(request)': [
    {},
    async (req, R) => {
      const copy = new R(req);
      return [copy.url, copy.method, [...copy.headers], await copy.text(), req.bodyUsed];
    },
  ],
  'new Request(request, {method, headers})': [
    { method: 'GET' },
    (req, R) => {
      const copy = new R(req, { method: 'DELETE', headers: { x: 'y' } });
      return [copy.method, [...copy.headers]];
    },
  ],
  'new Request(url, request)': [
    {},
    async (req, R) => {
      const copy = new R('http://other.example/x', req);
      return [copy.url, copy.method, copy.headers.get('content-type'), await copy.text()];
    },
  ],
  'new Request of a used request': [
    {},
    async (req, R) => {
      await req.text();
      return new R(req);
    },
  ],
  'headers are mutable': [
    {},
    (req) => {
      req.headers.set('x-added', '1');
      return [...req.headers];
    },
  ],
  'other properties': [
    {},
    (req) => [
      req.cache,
      req.credentials,
      req.destination,
      req.integrity,
      req.keepalive,
      req.mode,
      req.redirect,
      req.referrer,
      req.referrerPolicy,
      req.duplex,
    ],
  ],
  signal: [{}, (req) => [req.signal instanceof AbortSignal, req.signal.aborted]],
  'body is a stream': [{}, (req) => [req.body instanceof ReadableStream, req.bodyUsed]],
  'instanceof and constructor': [
    {},
    (req, R) => [
      req instanceof R,
      req instanceof RealRequest,
      req.constructor === R || req.constructor === RealRequest,
      R.name,
    ],
  ],
  toStringTag: [{}, (req) => Object.prototype.toString.call(req)],
  'own keys': [{}, (req) => [Object.keys(req), JSON.stringify(req), Object.keys({ ...req })]],
  'for…in keys': [
    {},
    (req) => {
      const keys: string[] = [];
      for (const key in req) keys.push(key);
      return keys;
    },
  ],
};

test('Request: the runner’s requests and undici’s give the same values and errors', async () => {
  const differences: string[] = [];
  for (const [name, [spec, run]] of Object.entries(REQUEST_CASES)) {
    const { real, light } = requests(spec);
    const a = await outcome(() => run(real(), RealRequest));
    const b = await outcome(() => run(light(), NimbusRequest as unknown as typeof Request));
    try {
      assert.deepEqual(b, a);
    } catch {
      differences.push(`${name}:\n  undici: ${JSON.stringify(a)}\n  light:  ${JSON.stringify(b)}`);
    }
  }
  assert.deepEqual(differences, [], differences.join('\n'));
});

test('Request: the class the runner installs behaves as undici’s', async () => {
  const differences: string[] = [];
  const cases: Record<string, (R: typeof Request) => unknown> = {
    'name and length': (R) => [R.name, R.length],
    'a URL and init': async (R) => {
      const req = new R('http://a.example/x', { method: 'post', body: 'b', headers: { a: '1' } });
      return [req.method, req.url, [...req.headers], await req.text()];
    },
    'a relative URL': (R) => new R('/relative'),
    'a GET with a body': (R) => new R('http://a.example/', { body: 'x' }),
    'a forbidden method': (R) => new R('http://a.example/', { method: 'CONNECT' }),
    'an invalid method': (R) => new R('http://a.example/', { method: 'a b' }),
    'a stream body without duplex': (R) =>
      new R('http://a.example/', { method: 'POST', body: streamOf(utf8('x')) }),
    instanceof: (R) => [
      new R('http://a.example/') instanceof R,
      new RealRequest('http://a.example/') instanceof R,
    ],
    'a subclass': (R) => {
      class Mine extends R {}
      return [
        new Mine('http://a.example/') instanceof R,
        new Mine('http://a.example/') instanceof Mine,
        new R('http://a.example/') instanceof Mine,
      ];
    },
  };
  for (const [name, run] of Object.entries(cases)) {
    const a = await outcome(() => run(RealRequest));
    const b = await outcome(() => run(NimbusRequest as unknown as typeof Request));
    try {
      assert.deepEqual(b, a);
    } catch {
      differences.push(`${name}:\n  undici: ${JSON.stringify(a)}\n  light:  ${JSON.stringify(b)}`);
    }
  }
  assert.deepEqual(differences, [], differences.join('\n'));
});
