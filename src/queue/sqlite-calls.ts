// Call records in the platform's SQLite file, written through the queue's group commit so a call's record
// and its queue message change in the same transaction. One prepared statement per query.

import {
  type AttemptOutcome,
  CALL_STATUSES,
  type CallbackState,
  type CallCounts,
  type CallListFilter,
  type CallRecord,
  type CallStatus,
  type CallStore,
  type NewCall,
} from './calls.js';
import type { CallSource } from './envelope.js';
import type { GroupCommit } from './group-commit.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  fn TEXT NOT NULL,
  source TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  redrives INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  next_attempt_at INTEGER,
  duration_ms REAL,
  callback_url TEXT,
  callback_state TEXT,
  callback_attempts INTEGER NOT NULL DEFAULT 0,
  callback_error TEXT,
  response_status INTEGER,
  response_headers TEXT,
  response_body BLOB,
  response_bytes INTEGER,
  error_code TEXT,
  error_message TEXT,
  request BLOB
) STRICT;
CREATE INDEX IF NOT EXISTS calls_fn_status ON calls (fn, status);
CREATE INDEX IF NOT EXISTS calls_status ON calls (status);
CREATE INDEX IF NOT EXISTS calls_finished ON calls (finished_at) WHERE finished_at IS NOT NULL;
`;

/** Columns of a record (the body only where one record is read). */
const SUMMARY = `seq, id, fn, source, status, attempts, errors, redrives, created_at, updated_at, started_at,
  finished_at, next_attempt_at, duration_ms, callback_url, callback_state, callback_attempts, callback_error,
  response_status, response_headers, response_bytes, error_code, error_message`;

interface Row {
  seq: number;
  id: string;
  fn: string;
  source: string;
  status: string;
  attempts: number;
  errors: number;
  redrives: number;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  next_attempt_at: number | null;
  duration_ms: number | null;
  callback_url: string | null;
  callback_state: string | null;
  callback_attempts: number;
  callback_error: string | null;
  response_status: number | null;
  response_headers: string | null;
  response_bytes: number | null;
  response_body?: Buffer | null;
  error_code: string | null;
  error_message: string | null;
}

/** Rows removed per purge transaction, so a large purge never holds the database for long. */
const PURGE_BATCH = 1000;

export class SqliteCallStore implements CallStore {
  private readonly commit: GroupCommit;
  private readonly stmts;

  constructor(commit: GroupCommit) {
    this.commit = commit;
    const db = commit.db;
    db.exec(SCHEMA);
    const page = (where: string) =>
      db.prepare(`SELECT ${SUMMARY} FROM calls WHERE ${where} seq < ? ORDER BY seq DESC LIMIT ?`);
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO calls (id, fn, source, status, created_at, updated_at, callback_url)
         VALUES (?, ?, ?, 'queued', ?, ?, ?)`,
      ),
      running: db.prepare(
        `UPDATE calls SET status = 'running', attempts = ?, started_at = coalesce(started_at, ?),
         updated_at = ?, next_attempt_at = NULL WHERE id = ?`,
      ),
      retrying: db.prepare(
        `UPDATE calls SET status = 'queued', errors = ?, next_attempt_at = ?, updated_at = ?, duration_ms = ?,
         response_status = ?, response_headers = ?, response_body = ?, response_bytes = ?,
         error_code = ?, error_message = ? WHERE id = ?`,
      ),
      finish: db.prepare(
        `UPDATE calls SET status = ?, errors = ?, finished_at = ?, updated_at = ?, next_attempt_at = NULL,
         duration_ms = ?, response_status = ?, response_headers = ?, response_body = ?, response_bytes = ?,
         error_code = ?, error_message = ?, request = ?,
         callback_state = CASE WHEN ? THEN 'pending' ELSE callback_state END WHERE id = ?`,
      ),
      callback: db.prepare(
        `UPDATE calls SET callback_state = ?, callback_attempts = ?, callback_error = ?, updated_at = ?
         WHERE id = ?`,
      ),
      requeue: db.prepare(
        `UPDATE calls SET status = 'queued', attempts = 0, errors = 0, redrives = redrives + 1,
         started_at = NULL, finished_at = NULL, next_attempt_at = NULL, duration_ms = NULL, request = NULL,
         response_status = NULL, response_headers = NULL, response_body = NULL, response_bytes = NULL,
         error_code = NULL, error_message = NULL, callback_state = NULL, callback_attempts = 0,
         callback_error = NULL, updated_at = ? WHERE id = ? AND status = 'dead'`,
      ),
      get: db.prepare<[string], Row>(`SELECT ${SUMMARY}, response_body FROM calls WHERE id = ?`),
      progress: db.prepare<[string], { status: CallStatus; errors: number; redrives: number }>(
        'SELECT status, errors, redrives FROM calls WHERE id = ?',
      ),
      deadLetter: db.prepare<[string], { fn: string; request: Buffer | null }>(
        "SELECT fn, request FROM calls WHERE id = ? AND status = 'dead'",
      ),
      seqOf: db.prepare<[string], { seq: number }>('SELECT seq FROM calls WHERE id = ?'),
      pageAll: page(''),
      pageFn: page('fn = ? AND'),
      pageStatus: page('status = ? AND'),
      pageFnStatus: page('fn = ? AND status = ? AND'),
      countsAll: db.prepare<[], { status: CallStatus; n: number }>(
        'SELECT status, count(*) AS n FROM calls GROUP BY status',
      ),
      countsFn: db.prepare<[string], { status: CallStatus; n: number }>(
        'SELECT status, count(*) AS n FROM calls WHERE fn = ? GROUP BY status',
      ),
      purge: db.prepare(
        `DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE finished_at < ? AND status = ? LIMIT ${PURGE_BATCH})`,
      ),
    };
  }

  create(call: NewCall): Promise<void> {
    return this.commit.write(() => {
      this.stmts.insert.run(
        call.id,
        call.fn,
        call.source,
        call.createdAt,
        call.createdAt,
        call.callbackUrl ?? null,
      );
    });
  }

  running(id: string, attempt: number, now: number): Promise<void> {
    return this.commit.write(() => {
      this.stmts.running.run(attempt, now, now, id);
    });
  }

  retrying(
    id: string,
    u: AttemptOutcome & { errors: number; nextAttemptAt: number; now: number },
  ): Promise<void> {
    return this.commit.write(() => {
      this.stmts.retrying.run(
        u.errors,
        u.nextAttemptAt,
        u.now,
        u.durationMs ?? null,
        ...outcomeColumns(u),
        id,
      );
    });
  }

  finish(
    id: string,
    u: AttemptOutcome & {
      status: 'succeeded' | 'failed' | 'dead';
      errors: number;
      now: number;
      request?: Buffer | undefined;
      callbackPending: boolean;
    },
  ): Promise<void> {
    return this.commit.write(() => {
      this.stmts.finish.run(
        u.status,
        u.errors,
        u.now,
        u.now,
        u.durationMs ?? null,
        ...outcomeColumns(u),
        u.request ?? null,
        u.callbackPending ? 1 : 0,
        id,
      );
    });
  }

  callback(
    id: string,
    u: { state: CallbackState; attempts: number; error?: string; now: number },
  ): Promise<void> {
    return this.commit.write(() => {
      this.stmts.callback.run(u.state, u.attempts, u.error ?? null, u.now, id);
    });
  }

  requeue(id: string, now: number): Promise<void> {
    return this.commit.write(() => {
      this.stmts.requeue.run(now, id);
    });
  }

  async get(id: string): Promise<CallRecord | undefined> {
    const row = this.stmts.get.get(id);
    return row ? toRecord(row) : undefined;
  }

  async progress(id: string): Promise<{ status: CallStatus; errors: number; redrives: number } | undefined> {
    return this.stmts.progress.get(id);
  }

  async deadLetter(id: string): Promise<{ fn: string; request: Buffer } | undefined> {
    const row = this.stmts.deadLetter.get(id);
    return row?.request ? { fn: row.fn, request: row.request } : undefined;
  }

  async list(filter: CallListFilter): Promise<CallRecord[]> {
    let before = Number.MAX_SAFE_INTEGER;
    if (filter.before !== undefined) {
      const seq = this.stmts.seqOf.get(filter.before)?.seq;
      if (seq === undefined) return [];
      before = seq;
    }
    const { fn, status, limit } = filter;
    let rows: unknown[];
    if (fn !== undefined && status !== undefined)
      rows = this.stmts.pageFnStatus.all(fn, status, before, limit);
    else if (fn !== undefined) rows = this.stmts.pageFn.all(fn, before, limit);
    else if (status !== undefined) rows = this.stmts.pageStatus.all(status, before, limit);
    else rows = this.stmts.pageAll.all(before, limit);
    return (rows as Row[]).map(toRecord);
  }

  async counts(fn?: string): Promise<CallCounts> {
    const counts = Object.fromEntries(CALL_STATUSES.map((s) => [s, 0])) as CallCounts;
    const rows = fn === undefined ? this.stmts.countsAll.all() : this.stmts.countsFn.all(fn);
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async purge(now: number, retention: { finishedMs: number; deadMs: number }): Promise<number> {
    let removed = 0;
    const passes: [CallStatus, number][] = [
      ['succeeded', now - retention.finishedMs],
      ['failed', now - retention.finishedMs],
      ['dead', now - retention.deadMs],
    ];
    for (const [status, cutoff] of passes) {
      for (;;) {
        const changes = await this.commit.write(() => this.stmts.purge.run(cutoff, status).changes);
        removed += changes;
        if (changes < PURGE_BATCH) break;
      }
    }
    return removed;
  }
}

function outcomeColumns(u: AttemptOutcome): (string | number | Buffer | null)[] {
  const r = u.response;
  return [
    r?.status ?? null,
    r ? JSON.stringify(r.headers) : null,
    r?.body ?? null,
    r?.bodyBytes ?? null,
    u.error?.code ?? null,
    u.error?.message ?? null,
  ];
}

function toRecord(row: Row): CallRecord {
  const record: CallRecord = {
    id: row.id,
    fn: row.fn,
    source: row.source as CallSource,
    status: row.status as CallStatus,
    attempts: row.attempts,
    errors: row.errors,
    redrives: row.redrives,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    callbackAttempts: row.callback_attempts,
  };
  if (row.started_at !== null) record.startedAt = row.started_at;
  if (row.finished_at !== null) record.finishedAt = row.finished_at;
  if (row.next_attempt_at !== null) record.nextAttemptAt = row.next_attempt_at;
  if (row.duration_ms !== null) record.durationMs = row.duration_ms;
  if (row.callback_url !== null) record.callbackUrl = row.callback_url;
  if (row.callback_state !== null) record.callbackState = row.callback_state as CallbackState;
  if (row.callback_error !== null) record.callbackError = row.callback_error;
  if (row.response_status !== null) {
    record.response = {
      status: row.response_status,
      headers: JSON.parse(row.response_headers ?? '[]') as string[],
      body: row.response_body ?? Buffer.alloc(0),
      bodyBytes: row.response_bytes ?? 0,
    };
  }
  if (row.error_code !== null) record.error = { code: row.error_code, message: row.error_message ?? '' };
  return record;
}
