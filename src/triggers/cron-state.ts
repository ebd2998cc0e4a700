// Cron state across restarts (last handled time and last call per schedule), in the platform's SQLite
// file, written through the queue's group commit.
import type { GroupCommit } from '../queue/group-commit.js';
import type { CronState, CronStateStore } from './cron.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cron_state (
  fn TEXT PRIMARY KEY,
  expression TEXT NOT NULL,
  timezone TEXT,
  last_slot INTEGER NOT NULL,
  last_call_id TEXT
) STRICT;
`;

interface Row {
  expression: string;
  timezone: string | null;
  last_slot: number;
  last_call_id: string | null;
}

export class SqliteCronState implements CronStateStore {
  private readonly commit: GroupCommit;
  private readonly stmts;

  constructor(commit: GroupCommit) {
    this.commit = commit;
    commit.db.exec(SCHEMA);
    this.stmts = {
      get: commit.db.prepare<[string], Row>(
        'SELECT expression, timezone, last_slot, last_call_id FROM cron_state WHERE fn = ?',
      ),
      put: commit.db.prepare(
        `INSERT INTO cron_state (fn, expression, timezone, last_slot, last_call_id) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(fn) DO UPDATE SET expression = excluded.expression, timezone = excluded.timezone,
         last_slot = excluded.last_slot, last_call_id = excluded.last_call_id`,
      ),
      remove: commit.db.prepare('DELETE FROM cron_state WHERE fn = ?'),
    };
  }

  load(fn: string): CronState | undefined {
    const row = this.stmts.get.get(fn);
    if (!row) return undefined;
    return {
      expression: row.expression,
      timezone: row.timezone ?? undefined,
      lastSlot: row.last_slot,
      lastCallId: row.last_call_id ?? undefined,
    };
  }

  save(fn: string, state: CronState): void {
    const { expression, timezone, lastSlot, lastCallId } = state;
    this.commit
      .write(() => this.stmts.put.run(fn, expression, timezone ?? null, lastSlot, lastCallId ?? null))
      .catch(() => {});
  }

  remove(fn: string): void {
    this.commit.write(() => this.stmts.remove.run(fn)).catch(() => {});
  }
}
