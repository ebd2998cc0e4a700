// Group commit: writes of one turn share a transaction; each promise settles only once a flush of the WAL
// (fdatasync, off the event loop) that began after its COMMIT has returned; close() flushes what is left.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { GroupCommit } from '../../src/queue/group-commit.js';

function open(t: { after: (fn: () => void) => void }): { commit: GroupCommit; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-commit-'));
  const file = join(dir, 'q.db');
  const commit = new GroupCommit(file);
  commit.db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)');
  t.after(() => {
    commit.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { commit, file };
}

test('a write settles after its transaction is committed and the WAL flushed; one turn, one transaction', async (t) => {
  const { commit, file } = open(t);
  assert.equal(commit.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(commit.db.pragma('synchronous', { simple: true }), 1, 'NORMAL: the flush is ours');
  const insert = commit.db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  const writes = Array.from({ length: 50 }, (_, i) => commit.write(() => insert.run(`k${i}`, i).changes));
  assert.deepEqual(await Promise.all(writes), Array(50).fill(1));
  assert.equal(commit.stats.commits, 1, 'the turn shared one transaction');
  assert.ok(commit.stats.syncs >= 1, 'settled only after a flush');
  const reader = new Database(file, { readonly: true });
  t.after(() => reader.close());
  assert.equal((reader.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n, 50);
});

test('writes of later turns wait for a flush that began after their commit, and share it', async (t) => {
  const { commit } = open(t);
  const insert = commit.db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  const settled: number[] = [];
  const all: Promise<unknown>[] = [];
  for (let turn = 0; turn < 20; turn++) {
    all.push(commit.write(() => insert.run(`t${turn}`, turn)).then(() => settled.push(turn)));
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(all);
  assert.equal(commit.stats.commits, 20);
  assert.ok(commit.stats.syncs <= commit.stats.commits, `${commit.stats.syncs} flushes for 20 commits`);
  assert.deepEqual(
    settled,
    [...settled].sort((a, b) => a - b),
    'in commit order',
  );
});

test('a failing write fails alone; close() commits and flushes what is pending', async (t) => {
  const { commit, file } = open(t);
  const insert = commit.db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
  await commit.write(() => insert.run('dup', 1));
  const results = await Promise.allSettled([
    commit.write(() => insert.run('dup', 2)),
    commit.write(() => insert.run('fine', 3)),
  ]);
  assert.equal(results[0]!.status, 'rejected');
  assert.equal(results[1]!.status, 'fulfilled');
  const last = commit.write(() => insert.run('last', 4));
  commit.close();
  await last;
  const reader = new Database(file, { readonly: true });
  t.after(() => reader.close());
  assert.deepEqual(
    (reader.prepare('SELECT k FROM t ORDER BY k').all() as { k: string }[]).map((r) => r.k),
    ['dup', 'fine', 'last'],
  );
});
