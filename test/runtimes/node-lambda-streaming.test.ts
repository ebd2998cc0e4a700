// Lambda response streaming in the Node runner (`awslambda.streamifyResponse`, `HttpResponseStream.from`)
// over real HTTP: chunks pass as they are written, the prelude sets status, headers and cookies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestPlatform } from '../helpers/platform.js';

/** Reads a response body read by read: the chunks as they came. */
async function chunks(res: Response): Promise<string[]> {
  const reader = res.body!.getReader();
  const out: string[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(Buffer.from(value).toString('utf8'));
  }
}

test('a streaming Lambda handler over HTTP', async (t) => {
  const nimbus = await startTestPlatform(t);
  await nimbus.deploy('lambda-stream');
  const url = `${nimbus.url}/function/lambda-stream`;

  await t.test('HttpResponseStream.from sets status, headers and cookies', async () => {
    const res = await fetch(`${url}/http`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(res.headers.get('set-cookie'), 'a=b');
    assert.equal(await res.text(), 'hello from lambda-stream world');
  });

  await t.test('what the handler writes goes out before it finishes', async () => {
    const res = await fetch(`${url}/?wait=400`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    const got = await chunks(res);
    assert.equal(got[0], 'hello from lambda-stream ', `the first write came alone: ${JSON.stringify(got)}`);
    assert.equal(got.join(''), 'hello from lambda-stream world');
  });

  await t.test('a handler that returns without ending its stream still ends the response', async () => {
    const res = await fetch(`${url}/no-end`);
    assert.equal(await res.text(), 'hello from lambda-stream world');
  });

  await t.test('a throw mid-stream cuts the response short', async () => {
    // Later than the first bytes, and in the same turn as them (all three frames arrive in one read).
    for (const path of ['/throw?wait=50', '/throw-now']) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 200, `${path}: the head was out already`);
      await assert.rejects(res.text(), `${path}: the body is cut short`);
      const after = await fetch(`${url}/http`);
      assert.equal(after.status, 201, 'the instance serves on');
    }
  });
});
