// Group commit on one SQLite connection with synchronous = FULL: writes asked for in the same event-loop
// turn run in one transaction and share one fsync; each caller's promise settles once it is on disk.
import Database from 'better-sqlite3';

interface PendingWrite {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitStats {
  /** Transactions committed. */
  commits: number;
  /** Writes committed (commits × writes per commit on average). */
  writes: number;
}

export class GroupCommit {
  readonly db: Database.Database;
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly runIsolated: (op: () => unknown) => unknown;
  readonly stats: GroupCommitStats = { commits: 0, writes: 0 };

  /** Opens its own connection to `file` (WAL, synchronous = FULL). */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: every commit fsyncs the WAL, so a write is on disk when its promise resolves (NORMAL may
    // lose the last commits on power loss, which is fine for the store but not for an acknowledged call).
    this.db.pragma('synchronous = FULL');
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

  /** Commits what is pending now (also called by close). */
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
      if (r.ok) batch[i]!.resolve(r.value);
      else batch[i]!.reject(r.value);
    }
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

  close(): void {
    this.flush();
    if (this.db.open) this.db.close();
  }
}
