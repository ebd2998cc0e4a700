// Hostile volumes from anonymous clients: a flood of large async calls is capped per function (429 with
// Retry-After, nothing written past the cap), and the database gives the space back once the calls have run
// and their records expired.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestPlatform, waitFor } from '../helpers/platform.js';
import { rawRequest } from '../helpers/raw-http.js';

const MB = 1024 * 1024;

test('async calls are capped per function and their space comes back', async (t) => {
  const nimbus = await startTestPlatform(t, {
    sandbox: 'auto',
    asyncBodyLimitBytes: 2 * MB,
    callRetentionMs: 1000,
    deadLetterRetentionMs: 1000,
  });
  const { url, client } = nimbus;
  await nimbus.deploy('slow', 'sink', { async: { concurrency: 1 } });
  const dbBytes = () =>
    ['nimbus.db', 'nimbus.db-wal'].reduce((sum, f) => {
      const path = join(nimbus.dataDir, f);
      return sum + (existsSync(path) ? statSync(path).size : 0);
    }, 0);

  const body = Buffer.alloc(MB, 'x');
  const statuses: number[] = [];
  let peak = 0;
  let retryAfter: string | null = null;
  // 300 anonymous 1 MB calls, 25 at a time: far faster than the function (one at a time, 100 ms each) drains.
  for (let sent = 0; sent < 300; sent += 25) {
    const batch = await Promise.all(
      Array.from({ length: 25 }, async () => {
        const res = await fetch(`${url}/async-function/sink?ms=100`, { method: 'POST', body });
        if (res.status === 429) {
          retryAfter = res.headers.get('retry-after');
          const { error } = (await res.json()) as { error: { code: string } };
          assert.equal(error.code, 'ERR_ASYNC_QUEUE_FULL');
        } else await res.arrayBuffer();
        return res.status;
      }),
    );
    statuses.push(...batch);
    peak = Math.max(peak, dbBytes());
  }
  const accepted = statuses.filter((s) => s === 202).length;
  const refused = statuses.filter((s) => s === 429).length;
  t.diagnostic(`accepted ${accepted}, refused ${refused}, database peak ${(peak / MB).toFixed(1)} MB`);
  assert.equal(accepted + refused, 300, `only 202 or 429: ${[...new Set(statuses)]}`);
  assert.ok(refused > 0, 'the flood hits the per-function cap (64 MiB by default)');
  assert.ok(Number(retryAfter) > 0, 'a refused call is told when to retry');
  // Data and WAL together hold up to about twice what is queued; 300 MB went in without the cap.
  assert.ok(peak < 160 * MB, `the database stayed near the cap: ${(peak / MB).toFixed(1)} MB`);

  // The backlog runs, the records expire, and the file shrinks.
  await waitFor(
    async () => {
      const { counts } = await client.call<{ counts: Record<string, number> }>(
        'GET',
        '/system/calls?function=sink&limit=0',
      );
      return (counts.queued ?? 0) + (counts.running ?? 0) + (counts.succeeded ?? 0) === 0;
    },
    120_000,
    'the calls to run and their records to expire',
  );
  const after = await waitFor(
    () => {
      const size = dbBytes();
      return size < 16 * MB ? size : undefined;
    },
    30_000,
    `the database to shrink (now ${(dbBytes() / MB).toFixed(1)} MB)`,
  );
  t.diagnostic(`database after: ${(after / MB).toFixed(1)} MB`);
  const again = await fetch(`${url}/async-function/sink?ms=1`, { method: 'POST', body });
  assert.equal(again.status, 202, 'with room again, calls are accepted');
});

test('a Lambda API call not validly signed by a key with the scope is refused before its body is read', async (t) => {
  const nimbus = await startTestPlatform(t);
  const key = await nimbus.client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
    scope: 'read',
  });
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const cases: [string, string][] = [
    ['no signature at all', ''],
    [
      'a known key, its signature missing',
      `AWS4-HMAC-SHA256 Credential=${key.id}/${day}/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date`,
    ],
    [
      'a known key without the scope (read, not deploy)',
      `AWS4-HMAC-SHA256 Credential=${key.id}/${day}/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    ],
    [
      'an unknown key',
      `AWS4-HMAC-SHA256 Credential=NMBSAAAAAAAAAAAAAAAA/${day}/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    ],
  ];
  const { hostname, port } = new URL(nimbus.url);
  for (const [what, authorization] of cases) {
    // 70 MB declared, none of it sent: the answer must come without waiting for the body.
    const head = [
      'POST /2015-03-31/functions HTTP/1.1',
      `Host: ${hostname}:${port}`,
      `X-Amz-Date: ${amzDate}`,
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Content-Type: application/json',
      `Content-Length: ${70 * MB}`,
      '',
      '',
    ].join('\r\n');
    const started = Date.now();
    const res = await rawRequest(nimbus.url, head, 10_000);
    assert.equal(res.status, 403, `${what}: ${res.body}`);
    assert.ok(res.headers['x-amzn-errortype'], what);
    t.diagnostic(`${what}: ${res.headers['x-amzn-errortype']} in ${Date.now() - started} ms`);
  }
});
