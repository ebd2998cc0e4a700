// The OpenWhisk layer's pure parts: the web-action HTTP mapping both ways, zips told by their content,
// alarm feeds turned into cron expressions, and what a call's answer says its activation is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { strToU8, zipSync } from 'fflate';
import { NimbusError } from '../../src/errors.js';
import { zipOf } from '../../src/gateway/openwhisk/action-code.js';
import { responseOf } from '../../src/gateway/openwhisk/activation.js';
import { scheduleOf } from '../../src/gateway/openwhisk/alarms.js';
import {
  functionAnswer,
  overridden,
  splitExtension,
  type WebRequest,
  WebResultError,
  webAnswer,
  webParams,
} from '../../src/gateway/openwhisk/web-http.js';

const req = (over: Partial<WebRequest>): WebRequest => ({
  method: 'GET',
  headers: {},
  path: '',
  query: '',
  body: new Uint8Array(0),
  ...over,
});
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

test('web params: query, then a JSON or form body; other bodies as __ow_body; raw keeps them whole', () => {
  const json = webParams(
    req({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      query: 'a=1&b=q',
      body: strToU8('{"b":2}'),
    }),
    false,
  );
  assert.deepEqual(json, {
    __ow_method: 'post',
    __ow_headers: { 'content-type': 'application/json' },
    __ow_path: '',
    a: '1',
    b: 2,
  });
  const array = webParams(
    req({ headers: { 'content-type': 'application/json' }, body: strToU8('[1,2]') }),
    false,
  );
  assert.deepEqual(array.__ow_body, [1, 2]);
  const form = webParams(
    req({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: strToU8('x=1&y=%20') }),
    false,
  );
  assert.equal(form.x, '1');
  assert.equal(form.y, ' ');
  const binary = webParams(
    req({ headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([0, 255]) }),
    false,
  );
  assert.equal(binary.__ow_body, 'AP8=');
  const plain = webParams(
    req({ headers: { 'content-type': 'text/plain; charset=utf-8' }, body: strToU8('hi') }),
    false,
  );
  assert.equal(plain.__ow_body, 'hi');
  const raw = webParams(
    req({ headers: { 'content-type': 'application/json' }, query: 'a=1', body: strToU8('{}') }),
    true,
  );
  assert.equal(raw.__ow_query, 'a=1');
  assert.equal(raw.__ow_body, 'e30=');
  assert.equal(raw.a, undefined);
  assert.equal(webParams(req({}), true).__ow_body, '');
  assert.throws(
    () => webParams(req({ headers: { 'content-type': 'application/json' }, body: strToU8('{') }), false),
    /does not parse/,
  );
});

test('a request may not name reserved or final params', () => {
  const hits = overridden(
    req({
      query: '__ow_method=x&ok=1',
      headers: { 'content-type': 'application/json' },
      body: strToU8('{"role":"admin","fine":1}'),
    }),
    ['__ow_method', 'role'],
  );
  assert.deepEqual(hits.sort(), ['__ow_method', 'role']);
  assert.deepEqual(overridden(req({ query: 'ok=1' }), ['__ow_method']), []);
});

test('extensions: known ones split off, anything else is .http', () => {
  assert.deepEqual(splitExtension('hello.json'), { name: 'hello', ext: '.json' });
  assert.deepEqual(splitExtension('hello'), { name: 'hello', ext: '.http' });
  assert.deepEqual(splitExtension('hello.xml'), { name: 'hello.xml', ext: '.http' });
  assert.deepEqual(splitExtension('.json'), { name: '.json', ext: '.http' });
});

test('.http answers: status, headers, text or base64 bodies, JSON, 204 without a body; bad shapes refused', () => {
  const html = webAnswer({ body: '<b>hi</b>' }, '.http');
  assert.equal(html.status, 200);
  assert.deepEqual(html.headers, [['content-type', 'text/html; charset=utf-8']]);
  assert.equal(text(html.body), '<b>hi</b>');
  const png = webAnswer({ headers: { 'Content-Type': 'image/png' }, body: 'AP8=' }, '.http');
  assert.deepEqual([...png.body], [0, 255]);
  const json = webAnswer({ statusCode: '201', headers: { 'x-a': [1, true] }, body: { ok: 1 } }, '.http');
  assert.equal(json.status, 201);
  assert.deepEqual(json.headers, [
    ['x-a', '1'],
    ['x-a', 'true'],
    ['content-type', 'application/json'],
  ]);
  assert.equal(text(json.body), '{"ok":1}');
  // OpenWhisk's legacy rule: a JSON content type with a base64 string body is decoded.
  const legacy = webAnswer(
    { headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":1}').toString('base64') },
    '.http',
  );
  assert.equal(text(legacy.body), '{"a":1}');
  assert.equal(webAnswer({ headers: { location: '/x' }, statusCode: 302 }, '.http').status, 302);
  assert.equal(webAnswer({}, '.http').status, 204);
  for (const bad of [
    42,
    [1],
    { statusCode: 99 },
    { statusCode: 'abc' },
    { headers: 'x' },
    { headers: { 'a b': '1' } },
    { headers: { a: 'x\r\nInjected: 1' } },
    { headers: { a: { b: 1 } } },
    { headers: { 'content-type': 'image/png' }, body: 'not base64!' },
    { headers: { 'content-type': 'text/plain' }, body: { a: 1 } },
  ])
    assert.throws(() => webAnswer(bad, '.http'), WebResultError, JSON.stringify(bad));
});

test('.json, .html, .svg and .text answers', () => {
  assert.equal(text(webAnswer({ a: 1 }, '.json').body), '{"a":1}');
  assert.throws(() => webAnswer('x', '.json'), WebResultError);
  assert.equal(text(webAnswer({ html: '<p>' }, '.html').body), '<p>');
  assert.equal(text(webAnswer({ body: '<svg/>' }, '.svg').body), '<svg/>');
  assert.throws(() => webAnswer({ nothing: 1 }, '.html'), WebResultError);
  assert.equal(text(webAnswer({ text: 'plain' }, '.text').body), 'plain');
  assert.equal(text(webAnswer({ body: { a: 1 } }, '.text').body), '{\n  "a": 1\n}');
  assert.throws(() => webAnswer({ other: 1 }, '.text'), WebResultError);
});

test('a plain HTTP call of an OpenWhisk-style function: HTTP-shaped results as such, others as JSON', () => {
  assert.deepEqual(
    { ...functionAnswer({ count: 3 }), body: text(functionAnswer({ count: 3 }).body) },
    { status: 200, headers: [['content-type', 'application/json']], body: '{"count":3}' },
  );
  assert.equal(functionAnswer({ statusCode: 404, body: 'nope' }).status, 404);
  const failed = functionAnswer({ error: 'bad' });
  assert.equal(failed.status, 400);
  assert.equal(text(failed.body), '{"error":"bad"}');
  assert.equal(functionAnswer({ error: { statusCode: 418, body: 'tea' } }).status, 418);
  assert.equal(functionAnswer({ error: { body: 'no status' } }).status, 400);
});

test('a zip is told by its content; binary code must be one', () => {
  const zip = Buffer.from(zipSync({ 'index.js': strToU8('exports.main = () => ({})') })).toString('base64');
  assert.ok(zipOf(zip, false));
  assert.ok(zipOf(zip, true));
  assert.equal(zipOf('function main() { return {}; }', false), undefined);
  assert.equal(zipOf('ZnVuY3Rpb24=', false), undefined, 'base64 that is not a zip is code');
  assert.equal(zipOf('abc', false), undefined);
  assert.throws(() => zipOf('function main() {}', true), /not base64/);
  assert.throws(() => zipOf('ZnVuY3Rpb24=', true), /not a base64 \.zip/);
});

test('alarm feeds become cron expressions, or say why not', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const p = (more: Record<string, unknown>) => ({
    lifecycleEvent: 'CREATE' as const,
    triggerName: '/_/t',
    ...more,
  });
  assert.equal(scheduleOf('alarm', p({ cron: '*/5 * * * *' }), now), '*/5 * * * *');
  assert.equal(scheduleOf('alarm', p({ cron: '*/10 * * * * *' }), now), '*/10 * * * * *');
  assert.equal(scheduleOf('once', p({ date: '2030-01-02T10:00:00Z' }), now), '2030-01-02T10:00:00.000Z');
  assert.equal(scheduleOf('once', p({ date: now + 60_000 }), now), '2030-01-01T00:01:00.000Z');
  assert.equal(scheduleOf('interval', p({ minutes: 15 }), now), '*/15 * * * *');
  assert.equal(scheduleOf('interval', p({ minutes: 120 }), now), '0 */2 * * *');
  const refused: [Parameters<typeof scheduleOf>[0], Record<string, unknown>, RegExp][] = [
    ['alarm', {}, /needs "cron"/],
    ['alarm', { cron: 'every day' }, /is not a schedule/],
    ['alarm', { cron: '* * * * *', stopDate: 'x' }, /stopDate is not supported/],
    ['once', { date: '2020-01-01T00:00:00Z' }, /in the future/],
    ['once', { date: 'soon' }, /is not a date/],
    ['interval', { minutes: 7 }, /divide an hour/],
    ['interval', {}, /needs "minutes"/],
  ];
  for (const [feed, more, why] of refused) {
    assert.throws(
      () => scheduleOf(feed, p(more), now),
      (err: NimbusError) => err.code === 'ERR_OPENWHISK_FEED_INVALID' && why.test(err.message),
      `${feed} ${JSON.stringify(more)}`,
    );
  }
});

test("an answer's activation: success, application error, developer error, internal error", () => {
  const body = (v: unknown) => Buffer.from(JSON.stringify(v));
  assert.deepEqual(responseOf(200, body({ a: 1 }), undefined, 1000).response, {
    statusCode: 0,
    result: { a: 1 },
  });
  assert.deepEqual(responseOf(200, body({ error: 'x' }), undefined, 1000).response, {
    statusCode: 1,
    result: { error: 'x' },
  });
  assert.deepEqual(responseOf(500, Buffer.from('boom'), undefined, 1000).response, {
    statusCode: 1,
    result: { error: 'boom' },
  });
  assert.equal(responseOf(200, Buffer.from('not json'), undefined, 1000).response.statusCode, 2);
  const timeout = responseOf(504, Buffer.alloc(0), new NimbusError('ERR_HANDLER_TIMEOUT', ['f', 300]), 300);
  assert.deepEqual(timeout, {
    response: {
      statusCode: 2,
      result: { error: 'The action exceeded its time limits of 300 milliseconds.' },
    },
    timedOut: true,
  });
  const thrown = responseOf(
    500,
    Buffer.alloc(0),
    new NimbusError('ERR_HANDLER_FAILED', ['f', 'boom'], {
      cause: { message: 'boom', stack: 'Error: boom\n    at x' },
    }),
    1,
  );
  assert.deepEqual(thrown.response.result, { error: 'An error has occurred: Error: boom' });
  assert.equal(
    responseOf(500, Buffer.alloc(0), new NimbusError('ERR_INTERNAL', ['ref']), 1).response.statusCode,
    3,
  );
});
