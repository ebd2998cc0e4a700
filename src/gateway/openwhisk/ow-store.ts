// What the OpenWhisk API keeps beside Nimbus's own records, in the platform's SQLite file: activation
// records (what each invocation, trigger fire and sequence run did, with its result and log lines),
// triggers, rules and sequences. Actions are Nimbus functions; they are not kept here.
import Database from 'better-sqlite3';
import { z } from 'zod';
import { NimbusError } from '../../errors.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ow_activations (
  id TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  pending INTEGER NOT NULL DEFAULT 0,
  start INTEGER NOT NULL,
  end INTEGER NOT NULL DEFAULT 0,
  status_code INTEGER NOT NULL DEFAULT 0,
  record TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS ow_activations_by_start ON ow_activations (namespace, pending, start DESC);
CREATE INDEX IF NOT EXISTS ow_activations_by_name ON ow_activations (namespace, name, start DESC);
CREATE TABLE IF NOT EXISTS ow_entities (
  namespace TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  updated INTEGER NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (namespace, kind, name)
) STRICT;
`;

/** A `{key, value}` list, as OpenWhisk keeps parameters and annotations. */
export type KeyValues = { key: string; value: unknown }[];

export const keyValuesSchema = z
  .array(z.strictObject({ key: z.string().min(1).max(256), value: z.unknown() }))
  .max(1000);

const keyValues = keyValuesSchema as z.ZodType<KeyValues>;

const activationSchema = z.object({
  activationId: z.string(),
  namespace: z.string(),
  name: z.string(),
  /** Epoch ms; for a pending record, when it was queued. */
  start: z.number(),
  end: z.number(),
  response: z.object({
    /** 0 success, 1 application error, 2 action developer error, 3 whisk internal error. */
    statusCode: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]),
    result: z.unknown(),
  }),
  logs: z.array(z.string()),
  annotations: keyValues,
  version: z.string(),
  /** The activation that caused this one (a sequence, a trigger). */
  cause: z.string().optional(),
});

/** An activation record (OpenWhisk's WhiskActivation, without its derived fields). */
export type Activation = z.output<typeof activationSchema>;
/** What an activation did, as its record's `response` says. */
export type ActivationResponse = Activation['response'];

export type EntityKind = 'trigger' | 'rule' | 'sequence';

const alarmFeedSchema = z.object({
  /** `/whisk.system/alarms/alarm`, `…/once` or `…/interval`. */
  name: z.string(),
  /** A cron expression (5 fields, or 6 with seconds first) or an ISO date (once). */
  schedule: z.string(),
  timezone: z.string().optional(),
  payload: z.record(z.string(), z.unknown()),
  /** The feed's own parameters as given (shown by a READ). */
  config: z.record(z.string(), z.unknown()),
});
export type AlarmFeed = z.output<typeof alarmFeedSchema>;

const docSchemas = {
  trigger: z.object({
    parameters: keyValues,
    annotations: keyValues,
    /** The alarms feed attached to the trigger, when one is. */
    feed: alarmFeedSchema.optional(),
    version: z.number(),
  }),
  rule: z.object({
    /** Trigger and action names (in the rule's namespace). */
    trigger: z.string(),
    action: z.string(),
    status: z.enum(['active', 'inactive']),
    annotations: keyValues,
    version: z.number(),
  }),
  sequence: z.object({
    /** Action names as given: `/namespace/name`, `/_/name` or `name`. */
    components: z.array(z.string()),
    parameters: keyValues,
    annotations: keyValues,
    limits: z.object({ timeout: z.number(), memory: z.number(), logs: z.number(), concurrency: z.number() }),
    version: z.number(),
  }),
};

export type TriggerDoc = z.output<typeof docSchemas.trigger>;
export type RuleDoc = z.output<typeof docSchemas.rule>;
export type SequenceDoc = z.output<typeof docSchemas.sequence>;

export interface EntityDocs {
  trigger: TriggerDoc;
  rule: RuleDoc;
  sequence: SequenceDoc;
}

export interface Entity<K extends EntityKind> {
  namespace: string;
  name: string;
  updated: number;
  doc: EntityDocs[K];
}

export interface ActivationQuery {
  name?: string | undefined;
  /** Epoch ms bounds on `start`. */
  since?: number | undefined;
  upto?: number | undefined;
  skip: number;
  limit: number;
}

interface ActivationRow {
  record: string;
}

interface EntityRow {
  namespace: string;
  name: string;
  updated: number;
  doc: string;
}

export class OpenWhiskStore {
  readonly #db: Database.Database;
  readonly #stmts;

  constructor(file: string) {
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    this.#stmts = {
      putActivation: this.#db.prepare(
        `INSERT INTO ow_activations (id, namespace, name, pending, start, end, status_code, record)
         VALUES (@id, @namespace, @name, @pending, @start, @end, @status_code, @record)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, pending = excluded.pending, start = excluded.start,
         end = excluded.end, status_code = excluded.status_code, record = excluded.record`,
      ),
      getActivation: this.#db.prepare<[string, string], ActivationRow & { pending: number }>(
        'SELECT record, pending FROM ow_activations WHERE id = ? AND namespace = ?',
      ),
      byId: this.#db.prepare<[string], ActivationRow & { pending: number }>(
        'SELECT record, pending FROM ow_activations WHERE id = ?',
      ),
      purge: this.#db.prepare('DELETE FROM ow_activations WHERE pending = 0 AND end < ?'),
      purgePending: this.#db.prepare('DELETE FROM ow_activations WHERE pending = 1 AND start < ?'),
      getEntity: this.#db.prepare<[string, string, string], EntityRow>(
        'SELECT namespace, name, updated, doc FROM ow_entities WHERE namespace = ? AND kind = ? AND name = ?',
      ),
      listEntities: this.#db.prepare<[string, string], EntityRow>(
        'SELECT namespace, name, updated, doc FROM ow_entities WHERE namespace = ? AND kind = ? ORDER BY updated DESC, name',
      ),
      putEntity: this.#db.prepare(
        `INSERT INTO ow_entities (namespace, kind, name, updated, doc) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(namespace, kind, name) DO UPDATE SET updated = excluded.updated, doc = excluded.doc`,
      ),
      deleteEntity: this.#db.prepare('DELETE FROM ow_entities WHERE namespace = ? AND kind = ? AND name = ?'),
      allEntities: this.#db.prepare<[string], EntityRow>(
        'SELECT namespace, name, updated, doc FROM ow_entities WHERE kind = ?',
      ),
    };
  }

  /** Stores a finished activation (replacing its pending record). */
  putActivation(activation: Activation): void {
    this.#stmts.putActivation.run({
      id: activation.activationId,
      namespace: activation.namespace,
      name: activation.name,
      pending: 0,
      start: activation.start,
      end: activation.end,
      status_code: activation.response.statusCode,
      record: JSON.stringify(activation),
    });
  }

  /** Notes an activation queued to run later (a non-blocking invoke): it is not listed until it finished. */
  putPending(activation: Activation): void {
    this.#stmts.putActivation.run({
      id: activation.activationId,
      namespace: activation.namespace,
      name: activation.name,
      pending: 1,
      start: activation.start,
      end: 0,
      status_code: 0,
      record: JSON.stringify(activation),
    });
  }

  /** Whether `id` is a pending activation (so the settling async call belongs to the OpenWhisk API). */
  pending(id: string): Activation | undefined {
    const row = this.#stmts.byId.get(id);
    return row?.pending ? readActivation(row.record) : undefined;
  }

  /** A finished activation of `namespace`. */
  getActivation(namespace: string, id: string): Activation | undefined {
    const row = this.#stmts.getActivation.get(id, namespace);
    if (!row || row.pending) return undefined;
    return readActivation(row.record);
  }

  /** Finished activations, newest first. */
  listActivations(namespace: string, query: ActivationQuery): Activation[] {
    const where = ['namespace = ?', 'pending = 0'];
    const args: (string | number)[] = [namespace];
    if (query.name !== undefined) {
      where.push('name = ?');
      args.push(query.name);
    }
    if (query.since !== undefined) {
      where.push('start >= ?');
      args.push(query.since);
    }
    if (query.upto !== undefined) {
      where.push('start <= ?');
      args.push(query.upto);
    }
    // The statement depends on which filters are given: four shapes at most, prepared as they are met.
    const sql = `SELECT record FROM ow_activations WHERE ${where.join(' AND ')} ORDER BY start DESC, id DESC LIMIT ? OFFSET ?`;
    const rows = this.#db
      .prepare<(string | number)[], ActivationRow>(sql)
      .all(...args, query.limit, query.skip);
    return rows.map((r) => readActivation(r.record));
  }

  countActivations(namespace: string, name: string | undefined): number {
    const sql = `SELECT count(*) AS n FROM ow_activations WHERE namespace = ? AND pending = 0${name === undefined ? '' : ' AND name = ?'}`;
    const args = name === undefined ? [namespace] : [namespace, name];
    return this.#db.prepare<string[], { n: number }>(sql).get(...args)?.n ?? 0;
  }

  /** Drops finished activations that ended before `before`, and pending ones queued before `pendingBefore`. */
  purge(before: number, pendingBefore: number): number {
    return this.#stmts.purge.run(before).changes + this.#stmts.purgePending.run(pendingBefore).changes;
  }

  getEntity<K extends EntityKind>(namespace: string, kind: K, name: string): Entity<K> | undefined {
    const row = this.#stmts.getEntity.get(namespace, kind, name);
    return row && toEntity(kind, row);
  }

  listEntities<K extends EntityKind>(namespace: string, kind: K): Entity<K>[] {
    return this.#stmts.listEntities.all(namespace, kind).map((row) => toEntity(kind, row));
  }

  /** Every entity of a kind, in every namespace (for the alarm schedules). */
  allEntities<K extends EntityKind>(kind: K): Entity<K>[] {
    return this.#stmts.allEntities.all(kind).map((row) => toEntity(kind, row));
  }

  putEntity<K extends EntityKind>(kind: K, entity: Entity<K>): void {
    this.#stmts.putEntity.run(
      entity.namespace,
      kind,
      entity.name,
      entity.updated,
      JSON.stringify(entity.doc),
    );
  }

  deleteEntity(namespace: string, kind: EntityKind, name: string): boolean {
    return this.#stmts.deleteEntity.run(namespace, kind, name).changes > 0;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** A stored record, checked: a row that does not parse (a damaged file) is a coded fault, not a crash. */
function readJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new NimbusError('ERR_INTERNAL', [`an unreadable OpenWhisk ${what} record`]);
  return parsed.data;
}

function readActivation(text: string): Activation {
  return readJson(activationSchema, text, 'activation');
}

function toEntity<K extends EntityKind>(kind: K, row: EntityRow): Entity<K> {
  const doc = readJson(docSchemas[kind] as unknown as z.ZodType<EntityDocs[K]>, row.doc, kind);
  return { namespace: row.namespace, name: row.name, updated: row.updated, doc };
}
