// Group commit on one SQLite connection: writes asked for in the same event-loop turn run in one
// transaction, and each caller's promise settles once its write is on disk. The fsync runs off the event
// loop (the WAL is written at COMMIT and flushed with fdatasync on libuv's threads), and one flush covers
// every transaction committed before it started: while a flush is in flight the next turns' writes
// commit and wait for the next one. So the loop keeps serving while the disk works.
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';

interface PendingWrite {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** A committed write waiting for the flush that makes it durable. */
interface Committed {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  value: unknown;
}

export interface GroupCommitStats {
  /** Transactions committed. */
  commits: number;
  /** Writes committed (commits × writes per commit on average). */
  writes: number;
  /** Flushes of the WAL to disk (each covers every commit before it). */
  syncs: number;
}

export class GroupCommit {
  readonly db: Database.Database;
  readonly stats: GroupCommitStats = { commits: 0, writes: 0, syncs: 0 };
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly runIsolated: (op: () => unknown) => unknown;
  /** The WAL file, flushed by hand (synchronous = NORMAL); null when SQLite syncs at COMMIT itself. */
  private readonly walPath: string | null;
  private walFd: number | undefined;
  /** Committed, waiting for the next flush; and those the running flush (if any) covers. */
  private unsynced: Committed[] = [];
  private syncing: Committed[] | undefined;
  private closed = false;

  /** Opens its own connection to `file` (WAL; durable writes as described above). */
  constructor(file: string) {
    this.db = new Database(file);
    const mode = this.db.pragma('journal_mode = WAL', { simple: true });
    if (mode === 'wal') {
      // The WAL is flushed by this class before any write is acknowledged, so SQLite need not fsync at
      // COMMIT: NORMAL still syncs the WAL before a checkpoint and the database after one, so the file
      // stays consistent, and our fdatasync makes each acknowledged transaction durable.
      this.db.pragma('synchronous = NORMAL');
      this.walPath = `${file}-wal`;
    } else {
      // No WAL (a file system without shared memory): every COMMIT fsyncs, on the loop.
      this.db.pragma('synchronous = FULL');
      this.walPath = null;
    }
    this.db.pragma('busy_timeout = 5000');
    // Inside the group's transaction this runs as a savepoint: one failing write does not undo the others.
    this.runIsolated = this.db.transaction((op: () => unknown) => op());
  }

  /** Runs `op` (synchronous statements) in the next group transaction; resolves with its result once durable. */
  write<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is pending now (also called by close); its writers hear back once it is on disk. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    if (!this.db.open) {
      for (const w of batch) w.reject(new Error('the queue database is closed'));
      return;
    }
    let results: { ok: boolean; value: unknown }[];
    try {
      results = this.commitBatch(batch, false);
    } catch {
      // One write failed (a constraint, say): do it again with a savepoint per write, so that one
      // fails alone and the others still commit.
      try {
        results = this.commitBatch(batch, true);
      } catch (err) {
        for (const w of batch) w.reject(err);
        return;
      }
    }
    this.stats.commits++;
    this.stats.writes += batch.length;
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      if (!r.ok) batch[i]!.reject(r.value);
      else if (this.walPath === null) batch[i]!.resolve(r.value);
      else this.unsynced.push({ resolve: batch[i]!.resolve, reject: batch[i]!.reject, value: r.value });
    }
    this.sync();
  }

  /** Flushes the WAL for everything committed so far, unless a flush runs: the next one takes it. */
  private sync(): void {
    if (this.syncing || this.unsynced.length === 0 || this.closed) return;
    let fd: number;
    try {
      fd = this.wal();
    } catch (err) {
      this.settle(this.unsynced, err as Error);
      this.unsynced = [];
      return;
    }
    const waiting = this.unsynced;
    this.unsynced = [];
    this.syncing = waiting;
    fdatasync(fd, (err) => {
      this.syncing = undefined;
      this.stats.syncs++;
      if (this.closed) {
        // close() flushed and answered them already; the file is ours to close now.
        this.closeWal();
        return;
      }
      this.settle(waiting, err);
      this.sync();
    });
  }

  private settle(waiting: Committed[], err: Error | null): void {
    if (err) {
      // The disk refused: nothing committed since the last good flush can be called durable.
      const error = new Error(`the queue database could not be flushed to disk: ${err.message}`);
      for (const w of waiting) w.reject(error);
    } else {
      for (const w of waiting) w.resolve(w.value);
    }
  }

  private wal(): number {
    this.walFd ??= openSync(this.walPath!, 'r');
    return this.walFd;
  }

  /** One transaction of every write; without isolation the first failing write aborts it (and throws). */
  private commitBatch(batch: PendingWrite[], isolate: boolean): { ok: boolean; value: unknown }[] {
    const results: { ok: boolean; value: unknown }[] = new Array(batch.length);
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (let i = 0; i < batch.length; i++) {
        const op = batch[i]!.op;
        if (!isolate) {
          results[i] = { ok: true, value: op() };
          continue;
        }
        try {
          results[i] = { ok: true, value: this.runIsolated(op) };
        } catch (err) {
          results[i] = { ok: false, value: err };
        }
      }
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
    return results;
  }

  /** Commits and flushes what is pending (on the loop: nothing waits after this), then closes the connection. */
  close(): void {
    this.flush();
    const waiting = [...(this.syncing ?? []), ...this.unsynced];
    this.unsynced = [];
    this.closed = true;
    if (waiting.length > 0) {
      let error: Error | null = null;
      try {
        fdatasyncSync(this.wal());
      } catch (err) {
        error = err as Error;
      }
      this.settle(waiting, error);
    }
    // A flush still running closes the file when it returns.
    if (!this.syncing) this.closeWal();
    if (this.db.open) this.db.close();
  }

  private closeWal(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }
}
