// Property-based fuzzing of a running `nimbus up` over raw TCP: random methods, raw paths (percent-encoding,
// dot segments, unicode, 8 KB+), headers and bodies across every route family, with and without credentials.
// Properties: every answer is one complete HTTP response, every error carries a code in its family's shape,
// and the process survives with /healthz answering. Bounded in time (fast-check's interrupt).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { deployTo, startNimbusProcess } from '../helpers/nimbus-process.js';
import { errorCode, rawRequest } from '../helpers/raw-http.js';

const FUZZ_TIME_MS = 30_000;

/** The compat APIs' families (docs/compat.md); the control API's come from /openapi.json at run time. */
const FAMILIES = [
  '/api/v1/functions/',
  '/api/v1/bundles/',
  '/api/v1/keys/',
  '/api/v1/keys',
  '/system/calls/',
  '/system/calls',
  '/system/function/',
  '/system/scale-function/',
  '/system/functions',
  '/system/logs',
  '/system/info',
  '/system/secrets',
  '/function/',
  '/async-function/',
  '/2015-03-31/functions/',
  '/2021-11-15/functions/',
  '/2016-08-19/account-settings',
  '/api/v1/namespaces/_/actions/',
  '/api/v1/namespaces/default/activations/',
  '/api/v1/namespaces/_/triggers/',
  '/api/v1/namespaces/_/rules/',
  '/api/v1/namespaces/whisk.system/actions/alarms/',
  '/api/v1/namespaces/',
  '/api/v1/web/_/default/',
  '/healthz',
  '/metrics',
  '/openapi.json',
  '/',
  '//',
];

const hex = (b: number) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`;

/** One path segment: a real name, token characters, percent-encoding (valid or not), dots, unicode, a long run. */
const segment = fc.oneof(
  fc.constantFrom(
    'echo',
    'private',
    'nope',
    '',
    '.',
    '..',
    '%2e%2e',
    '%2F',
    '%zz',
    '%',
    '%E4',
    '%00',
    '%C0%AF',
  ),
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,40}$/),
  fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 12 })
    .map((bytes) => bytes.map(hex).join('')),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).map((s) => encodeURIComponent(s)),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }),
  fc.integer({ min: 8 * 1024, max: 12 * 1024 }).map((n) => 'a'.repeat(n)),
  fc.constantFrom('invocations', 'configuration', 'code', 'redrive', 'response-streaming-invocations'),
);

const query = fc.option(
  fc
    .array(
      fc.tuple(fc.stringMatching(/^[a-zA-Z%0-9]{0,8}$/), fc.stringMatching(/^[A-Za-z0-9%=&+.-]{0,12}$/)),
      {
        maxLength: 4,
      },
    )
    .map((pairs) =>
      pairs
        .filter(([k]) => k !== 'follow')
        .map(([k, v]) => `${k}=${v}`)
        .join('&'),
    ),
);

const pathIn = (families: readonly string[]) =>
  fc
    .tuple(fc.constantFrom(...families), fc.array(segment, { maxLength: 4 }), query)
    .map(([family, segments, q]) => `${family}${segments.join('/')}${q === null ? '' : `?${q}`}`);

const method = fc.oneof(
  { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'), weight: 9 },
  { arbitrary: fc.stringMatching(/^[A-Z]{1,10}$/), weight: 1 },
);

const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,64}$/);

/** The credential a request carries; `token` and `key` are filled in once the process runs. */
type Credential =
  | 'none'
  | 'admin'
  | 'admin-basic'
  | 'key'
  | 'wrong-bearer'
  | 'wrong-basic'
  | 'sigv4'
  | 'garbage';
const credential = fc.constantFrom<Credential>(
  'none',
  'admin',
  'admin-basic',
  'key',
  'wrong-bearer',
  'wrong-basic',
  'sigv4',
  'garbage',
);

const requestIn = (families: readonly string[]) =>
  fc.record({
    method,
    path: pathIn(families),
    credential,
    host: fc.oneof(
      { arbitrary: fc.constant('127.0.0.1'), weight: 8 },
      { arbitrary: fc.constantFrom('[', 'a/b?', '[::1]:1', 'x%2F', ''), weight: 1 },
      { arbitrary: headerValue, weight: 1 },
    ),
    headers: fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), headerValue), {
      maxLength: 5,
    }),
    contentType: fc.constantFrom(
      undefined,
      'application/json',
      'text/plain',
      'application/x-tar',
      'multipart/form-data',
    ),
    body: fc.oneof(
      fc.constant(''),
      fc.json().map((j) => j.slice(0, 4096)),
      fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b).toString('latin1')),
    ),
  });

type FuzzRequest = ReturnType<typeof requestIn> extends fc.Arbitrary<infer T> ? T : never;

test('fuzzing every route family: complete coded answers, and the process survives', async (t) => {
  const nimbus = await startNimbusProcess(t);
  await deployTo(nimbus.client, 'echo', 'echo');
  await deployTo(nimbus.client, 'echo', 'private', { private: true });
  // Every control route the gateway documents (the OpenAPI test keeps the document and the router in
  // step), up to its first parameter: a route family added later is fuzzed without editing this list.
  const openapi = (await (await fetch(`${nimbus.url}/openapi.json`)).json()) as {
    paths: Record<string, unknown>;
  };
  const documented = Object.keys(openapi.paths).map((p) => p.replace(/\{.*$/, ''));
  assert.ok(
    documented.includes('/api/v1/secrets') && documented.includes('/api/v1/namespaces/'),
    'the document lists the control routes',
  );
  const request = requestIn([...new Set([...FAMILIES, ...documented])]);
  const key = await nimbus.client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
    scope: 'invoke',
    functions: ['private'],
  });
  const authorization = (c: Credential): string | undefined => {
    const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    switch (c) {
      case 'none':
        return undefined;
      case 'admin':
        return `Bearer ${nimbus.token}`;
      case 'admin-basic':
        return basic(`admin:${nimbus.token}`);
      case 'key':
        return `Bearer ${key.secret}`;
      case 'wrong-bearer':
        return 'Bearer nmbk_wrong';
      case 'wrong-basic':
        return basic(`${key.id}:nope`);
      case 'sigv4':
        return `AWS4-HMAC-SHA256 Credential=${key.id}/20261205/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00`;
      case 'garbage':
        return 'Basic !!!';
    }
  };

  const encode = (r: FuzzRequest): Buffer => {
    const body = Buffer.from(r.body, 'latin1');
    const lines = [`${r.method} ${r.path} HTTP/1.1`, `Host: ${r.host}`];
    const auth = authorization(r.credential);
    if (auth) lines.push(`Authorization: ${auth}`);
    if (r.contentType) lines.push(`Content-Type: ${r.contentType}`);
    for (const [name, value] of r.headers) {
      // The framing headers stay the fuzzer's own: a wrong length would only make the server wait.
      if (/^(content-length|transfer-encoding|connection|expect|x-callback-url|upgrade)$/i.test(name))
        continue;
      lines.push(`${name}: ${value}`);
    }
    lines.push(`Content-Length: ${body.length}`, 'Connection: close', '', '');
    return Buffer.concat([Buffer.from(lines.join('\r\n'), 'utf8'), body]);
  };

  let runs = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      runs++;
      const res = await rawRequest(nimbus.url, encode(r));
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const fromFunction = res.headers['x-echo'] === 'yes';
      if (res.status >= 400 && r.method !== 'HEAD' && !fromFunction) {
        const code = errorCode(res);
        assert.ok(code, `${res.status} without a code: ${res.body.toString().slice(0, 300)}`);
        assert.notEqual(
          code,
          'ERR_INTERNAL',
          `an internal error is a bug: ${res.body.toString().slice(0, 300)}`,
        );
      }
      assert.ok(nimbus.alive(), 'the process is still running');
    }),
    {
      numRuns: 20_000,
      interruptAfterTimeLimit: FUZZ_TIME_MS,
      seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31),
    },
  );
  t.diagnostic(`fuzzed ${runs} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.ok(runs >= 100, `at least 100 requests ran (${runs})`);
  assert.ok(nimbus.alive(), `the process survived: ${nimbus.output().slice(-2000)}`);
  const health = await fetch(`${nimbus.url}/healthz`);
  assert.equal(health.status, 200, '/healthz still answers');
  // A function still deploys and serves (echo itself may be gone: the admin credential may DELETE it).
  await deployTo(nimbus.client, 'echo', 'after');
  const after = await fetch(`${nimbus.url}/function/after`, { method: 'POST', body: 'still here' });
  assert.equal(after.status, 200, 'and functions are still served');
});
