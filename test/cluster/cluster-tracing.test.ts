// Tracing across a cluster: an async call queued on one node runs in its trace on whichever node takes it
// from the JetStream work queue, and each node's spans name it (service.instance.id).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startClusterNodes } from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { SPAN_KIND, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { waitFor } from '../helpers/platform.js';

const skip = natsSkip();

test('cluster: a queued call carries its trace to the node that runs it', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const receiver = await startOtlpReceiver(t);
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 2, {
    tracing: { otlpEndpoint: receiver.url, exportDelayMs: 50 },
  });
  const [one, two] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-cluster-tracing-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const started = join(dir, 'started.log');
  const gate = join(dir, 'gate');
  // Each node runs at most 2 async calls at a time, and every call held waits at the gate: with 8 queued on node 1,
  // node 1 holds 2 and node 2 must take the next ones, however the two are scheduled.
  await one.deploy('whoami', 'who', {
    environment: { GATE_FILE: gate, STARTED_FILE: started },
    concurrency: 2,
    async: { concurrency: 2 },
  });
  for (const node of [one, two]) {
    // Both nodes have it before the calls are queued (a node takes only calls of functions it has).
    await waitFor(
      async () => (await fetch(`${node.url}/function/who`)).status === 200,
      20_000,
      `who on ${node.url}`,
    );
  }

  const calls = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const traceId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex');
      const res = await fetch(`${one.url}/async-function/who`, {
        method: 'POST',
        body: 'hold',
        headers: { traceparent: `00-${traceId}-${'1'.repeat(16)}-01` },
      });
      assert.equal(res.status, 202);
      return traceId;
    }),
  );
  // Four calls in flight: two per node, since neither may hold more.
  const inFlight = await waitFor(
    () => {
      const lines = existsSync(started) ? readFileSync(started, 'utf8').trim().split('\n') : [];
      return lines.length >= 4 ? lines.map((l) => l.split(' ')[1]) : false;
    },
    30_000,
    'four calls started',
  );
  assert.deepEqual(
    [...new Set(inFlight)].sort(),
    [one.url, two.url].sort(),
    'calls queued on node 1 are in flight on both nodes',
  );
  writeFileSync(gate, '');
  const ranOn = new Set<unknown>();
  for (const traceId of calls) {
    const [attempt] = await receiver.waitForSpans(
      (s) => s.traceId === traceId && s.kind === SPAN_KIND.consumer,
      1,
      `the attempt of the call in trace ${traceId}`,
    );
    const [enqueue] = await receiver.waitForSpans(
      (s) => s.traceId === traceId && s.kind === SPAN_KIND.server,
      1,
      'its enqueue span',
    );
    assert.equal(enqueue!.resource['service.instance.id'], 'node-1');
    assert.equal(attempt!.parentSpanId, enqueue!.spanId, 'the attempt continues the trace it was queued in');
    ranOn.add(attempt!.resource['service.instance.id']);
  }
  assert.deepEqual([...ranOn].sort(), ['node-1', 'node-2'], 'calls queued on node 1 ran on both nodes');
});
