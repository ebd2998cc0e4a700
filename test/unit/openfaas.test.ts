// OpenFaaS mappings without processes: the node template's event/context/result, limits and watchdog
// variables, stack.yml reading (env substitution, environment files, langs, Nimbus keys beside).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readStack, substituteEnv } from '../../src/build/stack.js';
import { parseCpu, parseMemoryMb, specFromWatchdogEnv } from '../../src/config/openfaas.js';
import { NimbusError } from '../../src/errors.js';
import { openfaasEvent, runOpenFaaS } from '../../src/runtimes/node/openfaas-style.js';

const head = (method: string, target: string, ...headers: string[]) => [method, target, ...headers];

test('the node template event: body parsed by content type, query, path, headers', () => {
  const json = openfaasEvent(
    head('POST', '/a/b?x=1&x=2&y=', 'content-type', 'application/json'),
    Buffer.from('{"k":1}'),
    false,
  );
  assert.deepEqual(json.body, { k: 1 });
  assert.equal(json.path, '/a/b');
  assert.deepEqual(json.query, { x: ['1', '2'], y: '' });
  assert.equal(json.method, 'POST');
  const text = openfaasEvent(head('POST', '/', 'content-length', '2'), Buffer.from('hi'), false);
  assert.equal(text.body, 'hi', 'no content type is text/plain, as the template sets it');
  assert.equal(text.headers['content-type'], 'text/plain');
  const form = openfaasEvent(
    head('POST', '/', 'content-type', 'application/x-www-form-urlencoded'),
    Buffer.from('a=1&b=2'),
    false,
  );
  assert.deepEqual(form.body, { a: '1', b: '2' });
  const binary = openfaasEvent(
    head('POST', '/', 'content-type', 'application/octet-stream'),
    Buffer.from([1, 2]),
    false,
  );
  assert.deepEqual(binary.body, {}, 'body-parser leaves types it does not parse as {}');
  const raw = openfaasEvent(
    head('POST', '/', 'content-type', 'application/json'),
    Buffer.from('{"k":1}'),
    true,
  );
  assert.ok(Buffer.isBuffer(raw.body), 'RAW_BODY=true gives a Buffer');
  assert.deepEqual(openfaasEvent(head('GET', '/'), Buffer.alloc(0), false).body, {});
  const cookies = openfaasEvent(
    head('GET', '/', 'cookie', 'a=1', 'cookie', 'b=2', 'x-a', '1', 'x-a', '2'),
    Buffer.alloc(0),
    false,
  );
  assert.equal(cookies.headers.cookie, 'a=1; b=2');
  assert.equal(cookies.headers['x-a'], '1, 2');
});

test('context.status/headers/succeed/fail and returned values map as the template maps them', async () => {
  const run = (fn: Parameters<typeof runOpenFaaS>[0], body = '') =>
    runOpenFaaS(fn, head('POST', '/', 'content-type', 'text/plain'), Buffer.from(body), false);
  let out = await run(async (_e, ctx) => ctx.status(201).headers({ 'X-A': 'b' }).succeed('made'));
  assert.deepEqual(out.head, ['201', 'x-a', 'b', 'content-type', 'text/html; charset=utf-8']);
  assert.equal(out.body.toString(), 'made');
  out = await run(async (e) => ({ echo: e.body }), 'hey');
  assert.equal(out.body.toString(), '{"echo":"hey"}');
  out = await run(async (_e, ctx) => ctx.headers({ 'Content-Type': 'application/json' }).succeed([1]));
  assert.deepEqual(out.head, ['200', 'content-type', 'application/json']);
  out = await run(async (_e, ctx) => ctx.fail('nope'));
  assert.equal(out.head[0], '500');
  assert.equal(out.body.toString(), 'nope');
  out = await run(async () => {
    throw new Error('boom');
  });
  assert.equal(out.head[0], '500');
  assert.equal(out.body.toString(), 'Error: boom');
  out = await run((_e, _ctx, cb) => {
    setTimeout(() => cb(undefined, 'late'), 5);
    return new Promise(() => {});
  });
  assert.equal(out.body.toString(), 'late', 'the callback answers even when the promise never settles');
  out = await run(async () => Buffer.from([0, 1]));
  assert.deepEqual(out.head, ['200', 'content-type', 'application/octet-stream']);
  out = await run(async () => undefined);
  assert.deepEqual(out.head, ['200']);
  assert.equal(out.body.length, 0);
  out = await runOpenFaaS(
    async () => 'x',
    head('POST', '/', 'content-type', 'application/json'),
    Buffer.from('{bad'),
    false,
  );
  assert.equal(out.head[0], '400', "malformed JSON is the parser's 400");
});

test('limits and watchdog variables as spec keys', () => {
  assert.equal(parseMemoryMb('128Mi'), 128);
  assert.equal(parseMemoryMb('1Gi'), 1024);
  assert.equal(parseMemoryMb('128M'), 123);
  assert.equal(parseMemoryMb('134217728'), 128);
  assert.equal(parseMemoryMb('lots'), undefined);
  assert.equal(parseCpu('100m'), 0.1);
  assert.equal(parseCpu('2'), 2);
  assert.equal(parseCpu('x'), undefined);
  assert.deepEqual(specFromWatchdogEnv({ exec_timeout: '1m30s', max_inflight: '8' }), {
    timeoutMs: 90_000,
    concurrency: 8,
  });
  assert.deepEqual(specFromWatchdogEnv({ write_timeout: '20' }), { timeoutMs: 20_000 });
  assert.deepEqual(specFromWatchdogEnv({ exec_timeout: 'soon' }), {});
});

test('stack.yml: env substitution, environment files, langs, Nimbus keys beside, errors', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-stack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  writeFileSync(join(dir, 'env.yml'), 'environment:\n  FROM_FILE: "1"\n  OVERRIDDEN: file\n');
  writeFileSync(
    join(dir, 'stack.yml'),
    `provider: {name: openfaas}
functions:
  a:
    lang: node20
    handler: ./a
    image: \${REGISTRY:-ttl.sh}/a:latest
    environment: {OVERRIDDEN: inline, PORT: 8080}
    environment_file: [env.yml]
    limits: {memory: 64Mi, cpu: 500m}
    concurrency: 4
    scale: {max: 3}
  b:
    lang: python3-http
    handler: ./b
`,
  );
  // biome-ignore lint/suspicious/noTemplateCurlyInString: stack.yml's placeholders, not a template
  assert.equal(substituteEnv('${A}-${B:-d}-${C}', { A: 'x', C: '' }), 'x-d-');
  const [a, b] = readStack(join(dir, 'stack.yml'), { env: { REGISTRY: 'my.reg' } });
  assert.equal(a!.name, 'a');
  assert.equal(a!.dir, join(dir, 'a'));
  assert.deepEqual(a!.spec, {
    runtime: 'node',
    handler: 'handler',
    handlerStyle: 'openfaas',
    memoryMb: 64,
    cpu: 0.5,
    environment: { FROM_FILE: '1', OVERRIDDEN: 'inline', PORT: '8080' },
    labels: {},
    annotations: { 'nimbus.openfaas/image': 'my.reg/a:latest' },
    concurrency: 4,
    scale: { max: 3 },
  });
  assert.equal(b!.spec.runtime, 'python');
  assert.equal(b!.spec.handler, 'handler.handle');
  assert.deepEqual(
    readStack(join(dir, 'stack.yml'), { only: ['b'] }).map((f) => f.name),
    ['b'],
  );
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return (err as NimbusError).code;
    }
    return 'no error';
  };
  const write = (text: string) => {
    writeFileSync(join(dir, 'bad.yml'), text);
    return () => readStack(join(dir, 'bad.yml'));
  };
  assert.equal(
    code(write('functions:\n  x:\n    lang: dockerfile\n    handler: ./a\n')),
    'ERR_STACK_LANG_UNSUPPORTED',
  );
  assert.equal(
    code(write('functions:\n  x:\n    lang: node20\n    handler: ./a\n    secrets: k\n')),
    'ERR_STACK_INVALID',
  );
  assert.equal(code(write('functions:\n  x:\n    lang: node20\n    handler: ./nope\n')), 'ERR_STACK_INVALID');
  assert.equal(code(write('version: 1.0\n')), 'ERR_STACK_INVALID');
  assert.equal(
    code(() => readStack(join(dir, 'stack.yml'), { only: ['zzz'] })),
    'ERR_STACK_INVALID',
  );
  assert.ok(
    new NimbusError('ERR_STACK_LANG_UNSUPPORTED', ['x', 'y', 'z']).message.includes('docs/compat.md'),
  );
});
