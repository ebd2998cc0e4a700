// The SQLite queue: the Queue contract (test/unit/queue-contract.ts), and what is its own: group commit
// (many enqueues share one transaction and fsync), duplicate ids refused, WAL with synchronous = FULL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { GroupCommit } from '../../src/queue/group-commit.js';
import { SqliteQueue } from '../../src/queue/sqlite-queue.js';
import { queueContract } from './queue-contract.js';

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

queueContract('sqlite queue', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-queue-'));
  const file = join(dir, 'nimbus.db');
  const opened: { commit: GroupCommit; queue: SqliteQueue }[] = [];
  t.after(() => {
    for (const o of opened) {
      o.queue.close();
      o.commit.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    async open() {
      const commit = new GroupCommit(file);
      const queue = new SqliteQueue({ commit });
      opened.push({ commit, queue });
      return queue;
    },
  };
});

const msg = (id: string, topic = 'fn', delayMs?: number) => ({
  id,
  topic,
  data: Buffer.from(`data of ${id}`),
  ...(delayMs === undefined ? {} : { delayMs }),
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
