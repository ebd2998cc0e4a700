// The Queue contract: one suite every backend (SQLite, JetStream) passes, in real time with short leases.
// A backend gives `open()`: a Queue on the same durable store, as another process (or node) would see it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Queue, QueueMessage } from '../../src/queue/queue.js';

export interface QueueBackend {
  /** A Queue over the shared store; opened queues are closed by the backend after the test. */
  open(): Promise<Queue>;
}

type After = { after: (fn: () => Promise<void> | void) => void };

/** Generous bounds: the machine is a noisy shared VM. */
const WAIT_MS = 8000;
const LEASE_MS = 1000;

const msg = (id: string, topic = 'fn', delayMs?: number): QueueMessage => ({
  id,
  topic,
  data: Buffer.from(`data of ${id}`),
  ...(delayMs === undefined ? {} : { delayMs }),
});

export function queueContract(
  name: string,
  setUp: (t: After) => Promise<QueueBackend>,
  options: { skip?: string | false } = {},
): void {
  const it = (title: string, fn: (backend: QueueBackend) => Promise<void>) =>
    test(`${name}: ${title}`, { skip: options.skip ?? false }, async (t) => fn(await setUp(t)));

  it('enqueue is durable when it resolves; take leases oldest first up to max; ack and term remove', async (b) => {
    const writer = await b.open();
    await writer.enqueue([msg('a'), msg('b'), msg('c'), msg('x', 'other')]);
    assert.deepEqual(writer.usage('fn'), { messages: 3, bytes: 3 * 'data of a'.length });
    // Another process sees what was acknowledged.
    const queue = await b.open();
    const first = await queue.take('fn', { max: 2, leaseMs: 30_000 });
    assert.deepEqual(
      first.map((j) => [j.id, j.topic, j.deliveries, j.data.toString()]),
      [
        ['a', 'fn', 1, 'data of a'],
        ['b', 'fn', 1, 'data of b'],
      ],
    );
    assert.ok(Math.abs(first[0]!.enqueuedAt - Date.now()) < 60_000, 'enqueuedAt is a recent epoch ms');
    assert.deepEqual(
      (await queue.take('fn', { max: 5, leaseMs: 30_000 })).map((j) => j.id),
      ['c'],
      'leased messages are hidden',
    );
    assert.deepEqual(await queue.take('fn', { max: 5, leaseMs: 30_000 }), []);
    assert.deepEqual(writer.topics().sort(), ['fn', 'other']);
    await queue.ack(first[0]!);
    await queue.term(first[1]!);
    assert.equal(queue.usage('fn').messages, 1, 'usage counts what is left (the leased c)');
    const other = await queue.take('other', { max: 5, leaseMs: 30_000 });
    assert.deepEqual(
      other.map((j) => j.id),
      ['x'],
    );
    await queue.ack(other[0]!);
    assert.equal(queue.usage('other').messages, 0);
  });

  it('a lease nobody settles runs out: the message comes back to another taker, delivery counted', async (b) => {
    const crashed = await b.open();
    await crashed.enqueue([msg('a')]);
    const [job] = await crashed.take('fn', { max: 1, leaseMs: LEASE_MS });
    assert.equal(job!.deliveries, 1);
    const survivor = await b.open();
    const started = performance.now();
    assert.deepEqual(await survivor.take('fn', { max: 1, leaseMs: LEASE_MS }), [], 'hidden while leased');
    const [again] = await survivor.take('fn', { max: 1, leaseMs: LEASE_MS, waitMs: WAIT_MS });
    assert.equal(again?.id, 'a');
    assert.equal(again.deliveries, 2);
    assert.ok(performance.now() - started >= LEASE_MS * 0.7, 'not before the lease ran out');
    await survivor.ack(again);
  });

  it('nak(delay) hands a message back after the delay; extend keeps it hidden past its lease', async (b) => {
    const queue = await b.open();
    await queue.enqueue([msg('a')]);
    let [job] = await queue.take('fn', { max: 1, leaseMs: LEASE_MS });
    let started = performance.now();
    await queue.nak(job!, 600);
    assert.deepEqual(
      await queue.take('fn', { max: 1, leaseMs: LEASE_MS }),
      [],
      'not visible during the delay',
    );
    [job] = await queue.take('fn', { max: 1, leaseMs: LEASE_MS, waitMs: WAIT_MS });
    assert.equal(job?.id, 'a');
    assert.equal(job.deliveries, 2);
    assert.ok(performance.now() - started >= 400, 'not before its delay');
    // Renewed every third of the lease for three leases: nobody else gets it meanwhile.
    const renew = setInterval(() => void queue.extend(job!, LEASE_MS), LEASE_MS / 3);
    started = performance.now();
    const other = await b.open();
    const during = await other.take('fn', { max: 1, leaseMs: LEASE_MS, waitMs: LEASE_MS * 3 });
    clearInterval(renew);
    assert.deepEqual(during, [], 'the extended lease still hides it');
    assert.ok(performance.now() - started >= LEASE_MS * 2);
    // A renewal racing a nak loses: the message is handed back at once.
    const nak = queue.nak(job, 0);
    const renewal = queue.extend(job, 60_000);
    await Promise.all([nak, renewal]);
    const [back] = await other.take('fn', { max: 1, leaseMs: LEASE_MS, waitMs: WAIT_MS });
    assert.equal(back?.id, 'a');
    assert.equal(back.deliveries, 3);
    await other.ack(back);
  });

  it('a message enqueued with delayMs is not taken before its delay', async (b) => {
    const queue = await b.open();
    const started = performance.now();
    await queue.enqueue([msg('later', 'fn', 700)]);
    assert.deepEqual(await queue.take('fn', { max: 1, leaseMs: LEASE_MS }), []);
    const [job] = await queue.take('fn', { max: 1, leaseMs: LEASE_MS, waitMs: WAIT_MS });
    assert.equal(job?.id, 'later');
    assert.ok(performance.now() - started >= 500);
    await queue.ack(job);
  });

  it('a waiting take wakes when a message arrives; close wakes it empty', async (b) => {
    const queue = await b.open();
    const started = performance.now();
    const waiting = queue.take('fn', { max: 3, leaseMs: LEASE_MS * 10, waitMs: WAIT_MS });
    setTimeout(() => void queue.enqueue([msg('a')]), 50);
    const jobs = await waiting;
    assert.deepEqual(
      jobs.map((j) => j.id),
      ['a'],
    );
    assert.ok(performance.now() - started < WAIT_MS / 2, 'woken by the message, not the timeout');
    await queue.ack(jobs[0]!);
    const idle = queue.take('fn', { max: 1, leaseMs: LEASE_MS, waitMs: WAIT_MS });
    const closeAt = performance.now();
    setTimeout(() => queue.close(), 50);
    assert.deepEqual(await idle, []);
    assert.ok(performance.now() - closeAt < WAIT_MS / 2, 'close woke it');
    assert.deepEqual(
      await queue.take('fn', { max: 1, leaseMs: LEASE_MS, waitMs: WAIT_MS }),
      [],
      'closed: at once',
    );
  });

  it('many concurrent enqueues all land, each message delivered once', async (b) => {
    const queue = await b.open();
    const ids = Array.from({ length: 200 }, (_, i) => `m${i}`);
    await Promise.all(ids.map((id) => queue.enqueue([msg(id)])));
    const seen: string[] = [];
    const deadline = Date.now() + WAIT_MS * 2;
    while (seen.length < ids.length && Date.now() < deadline) {
      const jobs = await queue.take('fn', { max: 50, leaseMs: 30_000, waitMs: 1000 });
      for (const job of jobs) seen.push(job.id);
      await Promise.all(jobs.map((j) => queue.ack(j)));
    }
    assert.deepEqual([...seen].sort(), [...ids].sort());
    assert.equal(queue.usage('fn').messages, 0);
  });
}
