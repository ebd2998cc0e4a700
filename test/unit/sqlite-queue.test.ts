// The SQLite queue and group commit: leases as visibility times, ack / nak / extend / term, redelivery
// after a crash, long-poll wake-ups, and many enqueues sharing one transaction.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { GroupCommit } from '../../src/queue/group-commit.js';
import { SqliteQueue } from '../../src/queue/sqlite-queue.js';

function setUp(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-queue-'));
  const file = join(dir, 'nimbus.db');
  const clock = { now: 1_000_000 };
  const opened: GroupCommit[] = [];
  const open = () => {
    const commit = new GroupCommit(file);
    opened.push(commit);
    return { commit, queue: new SqliteQueue({ commit, now: () => clock.now }) };
  };
  t.after(() => {
    for (const c of opened) c.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { file, clock, open };
}

const msg = (id: string, topic = 'fn', delayMs?: number) => ({
  id,
  topic,
  data: Buffer.from(`data of ${id}`),
  ...(delayMs === undefined ? {} : { delayMs }),
});

test('take leases messages oldest first; a lease hides them until it runs out', async (t) => {
  const { open } = setUp(t);
  const { queue } = open();
  await queue.enqueue([msg('a'), msg('b'), msg('c'), msg('x', 'other')]);
  const first = await queue.take('fn', { max: 2, leaseMs: 1000 });
  assert.deepEqual(
    first.map((j) => [j.id, j.deliveries, j.data.toString(), j.enqueuedAt]),
    [
      ['a', 1, 'data of a', 1_000_000],
      ['b', 1, 'data of b', 1_000_000],
    ],
  );
  assert.deepEqual(
    (await queue.take('fn', { max: 5, leaseMs: 1000 })).map((j) => j.id),
    ['c'],
  );
  assert.deepEqual(await queue.take('fn', { max: 5, leaseMs: 1000 }), []);
  assert.deepEqual(queue.topics().sort(), ['fn', 'other']);
  await queue.ack(first[0]!);
  await queue.term(first[1]!);
  assert.equal(queue.depth('fn'), 1);
});

test('a message held by a dead process comes back when its lease expires, delivery counted', async (t) => {
  const { clock, open } = setUp(t);
  const crashed = open();
  await crashed.queue.enqueue([msg('a')]);
  const [job] = await crashed.queue.take('fn', { max: 1, leaseMs: 5000 });
  assert.equal(job!.deliveries, 1);
  // A second process on the same file (the restart): the lease is durable.
  const restarted = open();
  assert.deepEqual(await restarted.queue.take('fn', { max: 1, leaseMs: 5000 }), []);
  clock.now += 5001;
  const [again] = await restarted.queue.take('fn', { max: 1, leaseMs: 5000 });
  assert.equal(again!.id, 'a');
  assert.equal(again!.deliveries, 2);
});

test('nak makes a message visible after its delay; extend pushes the lease; a late renewal loses to a nak', async (t) => {
  const { clock, open } = setUp(t);
  const { queue } = open();
  await queue.enqueue([msg('a'), msg('later', 'fn', 500)]);
  let [job] = await queue.take('fn', { max: 1, leaseMs: 1000 });
  assert.equal(job!.id, 'a');
  await queue.nak(job!, 200);
  clock.now += 199;
  assert.deepEqual(await queue.take('fn', { max: 5, leaseMs: 1000 }), []);
  clock.now += 1;
  [job] = await queue.take('fn', { max: 1, leaseMs: 1000 });
  assert.equal(job!.id, 'a');
  assert.equal(job!.deliveries, 2);
  await queue.extend(job!, 10_000);
  clock.now += 5000;
  const visible = await queue.take('fn', { max: 5, leaseMs: 1000 });
  assert.deepEqual(
    visible.map((j) => j.id),
    ['later'],
    'the extended lease still hides a',
  );
  // The renewal timer fires while the nak is being written: the nak wins.
  const nak = queue.nak(job!, 0);
  const renewal = queue.extend(job!, 60_000);
  await Promise.all([nak, renewal]);
  assert.deepEqual(
    (await queue.take('fn', { max: 5, leaseMs: 1000 })).map((j) => j.id),
    ['a'],
  );
});

test('a waiting take wakes when a message arrives; close wakes it empty', async (t) => {
  const { open } = setUp(t);
  const { queue } = open();
  const started = performance.now();
  const waiting = queue.take('fn', { max: 1, leaseMs: 1000, waitMs: 5000 });
  setTimeout(() => void queue.enqueue([msg('a')]), 20);
  const [job] = await waiting;
  assert.equal(job!.id, 'a');
  assert.ok(performance.now() - started < 1000);
  const idle = queue.take('fn', { max: 1, leaseMs: 1000, waitMs: 5000 });
  setTimeout(() => queue.close(), 20);
  assert.deepEqual(await idle, []);
  assert.ok(performance.now() - started < 2000);
});

test('group commit: concurrent writes share one transaction; one failing write does not fail the others', async (t) => {
  const { file, open } = setUp(t);
  const { commit, queue } = open();
  const before = { ...commit.stats };
  await Promise.all(Array.from({ length: 100 }, (_, i) => queue.enqueue([msg(`m${i}`)])));
  assert.equal(commit.stats.writes - before.writes, 100);
  assert.equal(commit.stats.commits - before.commits, 1);
  const results = await Promise.allSettled([queue.enqueue([msg('m1')]), queue.enqueue([msg('fresh')])]);
  assert.equal(results[0]!.status, 'rejected', 'a duplicate id is refused');
  assert.equal(results[1]!.status, 'fulfilled');
  // Durable and visible to another connection once resolved.
  const reader = new Database(file, { readonly: true });
  t.after(() => reader.close());
  const n = reader.prepare('SELECT count(*) AS n FROM queue_messages').get() as { n: number };
  assert.equal(n.n, 101);
  assert.equal(reader.pragma('journal_mode', { simple: true }), 'wal');
  // NORMAL: SQLite does not fsync at COMMIT; GroupCommit flushes the WAL itself before it resolves.
  assert.equal(commit.db.pragma('synchronous', { simple: true }), 1, 'synchronous = NORMAL');
  assert.ok(commit.stats.syncs >= 1, 'resolved after a flush of the WAL');
});
