// Payload 2.0 events from requests, and Lambda's result mapping (reference/lambda.md §4).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatClfTime, fromLambdaResult, toLambdaEvent } from '../../src/runtimes/node/lambda-style.js';

const isText = (ct: string | undefined) => !ct || /json|text/.test(ct);

test('a request becomes a payload 2.0 event', () => {
  const fields = [
    'POST',
    '/items?a=1&a=2&b=x',
    'host',
    'h:1',
    'cookie',
    's=1; t=2',
    'content-type',
    'application/json',
    'x-dup',
    '1',
    'X-Dup',
    '2',
  ];
  const ev = toLambdaEvent(
    fields,
    Buffer.from('{"k":"v"}'),
    isText,
    new Date(Date.UTC(2020, 2, 12, 19, 3, 58)),
  );
  assert.equal(ev.rawPath, '/items');
  assert.equal(ev.rawQueryString, 'a=1&a=2&b=x');
  assert.deepEqual(ev.queryStringParameters, { a: '1,2', b: 'x' });
  assert.deepEqual(ev.cookies, ['s=1', 't=2']);
  assert.equal(ev.headers.cookie, undefined);
  assert.equal(ev.headers['x-dup'], '1,2');
  assert.equal(ev.body, '{"k":"v"}');
  assert.equal(ev.isBase64Encoded, false);
  assert.equal((ev.requestContext as any).time, '12/Mar/2020:19:03:58 +0000');
  assert.equal((ev.requestContext as any).http.method, 'POST');
});

test('no query and no body leave those fields out', () => {
  const ev = toLambdaEvent(['GET', '/'], Buffer.alloc(0), isText);
  assert.equal(ev.queryStringParameters, undefined);
  assert.equal(ev.body, undefined);
  assert.equal(ev.cookies, undefined);
});

test('binary bodies are base64', () => {
  const ev = toLambdaEvent(['POST', '/', 'content-type', 'image/png'], Buffer.from([0, 1, 255]), isText);
  assert.equal(ev.body, 'AAH/');
  assert.equal(ev.isBase64Encoded, true);
});

test('results map back as Lambda does', () => {
  let r = fromLambdaResult({
    statusCode: 201,
    headers: { 'X-A': 1 },
    cookies: ['c1=v1', 'c2=v2'],
    body: 'ok',
  });
  assert.deepEqual(r.head, ['201', 'x-a', '1', 'set-cookie', 'c1=v1', 'set-cookie', 'c2=v2']);
  assert.equal(r.body.toString(), 'ok');
  r = fromLambdaResult({ message: 'hi' });
  assert.deepEqual(r.head, ['200', 'content-type', 'application/json']);
  assert.equal(r.body.toString(), '{"message":"hi"}');
  assert.equal(fromLambdaResult('Hello').body.toString(), '"Hello"');
  assert.equal(fromLambdaResult(undefined).body.toString(), 'null');
  assert.deepEqual(
    [...fromLambdaResult({ statusCode: 200, body: 'AAEC/w==', isBase64Encoded: true }).body],
    [0, 1, 2, 255],
  );
  assert.equal(fromLambdaResult({ statusCode: 204 }).body.length, 0);
});

test('CLF time', () => {
  assert.equal(formatClfTime(new Date(Date.UTC(2026, 10, 7, 1, 2, 3))), '07/Nov/2026:01:02:03 +0000');
});
