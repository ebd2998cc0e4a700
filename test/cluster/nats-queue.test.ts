// The JetStream queue against a real nats-server: the Queue contract, and what is its own: a work-queue
// stream with file storage, two nodes sharing one consumer per topic, usage read cluster-wide, and an
// enqueue that fails (never resolves falsely) when JetStream does not acknowledge it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsQueue } from '../../src/queue/nats-queue.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { queueContract } from '../unit/queue-contract.js';

const skip = natsSkip();
type After = { after: (fn: () => Promise<void> | void) => void };

async function natsBackend(t: After, options: { usageRefreshMs?: number } = {}) {
  const server = await startJetStream(t);
  const stream = `Q${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
  const opened: { nc: NatsConnection; queue: NatsQueue }[] = [];
  t.after(async () => {
    for (const o of opened) {
      o.queue.close();
      await o.nc.close();
    }
  });
  return {
    server,
    stream,
    async open() {
      const nc = await connect({ servers: server.url });
      const queue = await NatsQueue.open({
        nc,
        stream,
        usageRefreshMs: options.usageRefreshMs ?? 3_600_000,
        publishTimeoutMs: 2000,
      });
      opened.push({ nc, queue });
      return queue;
    },
  };
}

queueContract('jetstream queue', natsBackend, { skip });

test('jetstream queue: a work-queue stream on file storage; two nodes share a topic, each message to one', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const one = await b.open();
  const two = await b.open();
  const nc = await connect({ servers: b.server.url });
  t.after(() => nc.close());
  const info = await (await jetstreamManager(nc)).streams.info(b.stream);
  assert.equal(info.config.retention, 'workqueue');
  assert.equal(info.config.storage, 'file');
  assert.equal(info.config.num_replicas, 1);
  const ids = Array.from({ length: 60 }, (_, i) => `m${i}`);
  await one.enqueue(ids.map((id) => ({ id, topic: 'fn', data: Buffer.from(id) })));
  const taken = new Map<string, string>();
  const deadline = Date.now() + 15_000;
  while (taken.size < ids.length && Date.now() < deadline) {
    const [a, b2] = await Promise.all([
      one.take('fn', { max: 7, leaseMs: 30_000, waitMs: 1000 }),
      two.take('fn', { max: 7, leaseMs: 30_000, waitMs: 1000 }),
    ]);
    for (const [node, jobs, q] of [
      ['one', a, one],
      ['two', b2, two],
    ] as const) {
      for (const job of jobs) {
        assert.equal(taken.has(job.id), false, `${job.id} delivered twice`);
        taken.set(job.id, node);
        await q.ack(job);
      }
    }
  }
  assert.equal(taken.size, ids.length);
  assert.ok(
    [...taken.values()].includes('one') && [...taken.values()].includes('two'),
    'both nodes took work',
  );
});

test('jetstream queue: usage is read cluster-wide; a topic with messages is announced', {
  skip,
}, async (t) => {
  const server = await startJetStream(t);
  const nc1 = await connect({ servers: server.url });
  const nc2 = await connect({ servers: server.url });
  t.after(async () => {
    await nc1.close();
    await nc2.close();
  });
  const announced: string[] = [];
  const writer = await NatsQueue.open({ nc: nc1, stream: 'U', usageRefreshMs: 100 });
  const reader = await NatsQueue.open({
    nc: nc2,
    stream: 'U',
    usageRefreshMs: 100,
    onTopic: (topic) => announced.push(topic),
  });
  t.after(() => {
    writer.close();
    reader.close();
  });
  await writer.enqueue([
    { id: 'a', topic: 'fn', data: Buffer.alloc(100) },
    { id: 'b', topic: '@callback', data: Buffer.alloc(100) },
  ]);
  const deadline = Date.now() + 10_000;
  while (reader.usage('fn').messages !== 1 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(reader.usage('fn').messages, 1);
  assert.ok(reader.usage('fn').bytes >= 100, 'bytes estimated from the stream');
  assert.deepEqual(reader.topics().sort(), ['@callback', 'fn']);
  assert.ok(announced.includes('fn') && announced.includes('@callback'));
  assert.equal(await reader.depth('@callback'), 1);
});

test('jetstream queue: an enqueue JetStream does not acknowledge rejects, and nothing half-counted stays', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const queue = await b.open();
  await b.server.stop();
  await assert.rejects(queue.enqueue([{ id: 'lost', topic: 'fn', data: Buffer.from('x') }]));
  assert.equal(queue.usage('fn').messages, 0);
});
