// The SQLite store (better-sqlite3, WAL): functions, their versions and call counters; one prepared statement per query.
import Database from 'better-sqlite3';
import { z } from 'zod';
import { type FunctionSpec, parseFunctionSpec } from '../config/function-spec.js';
import {
  DEFAULT_NAMESPACE,
  type NamespaceRecord,
  type NamespaceSettings,
  quotasSchema,
} from '../config/namespace.js';
import type { AliasRecord, CounterDelta, FunctionRecord, FunctionVersion, Store } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS functions (
  name TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  invocations INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS versions (
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  bundle TEXT NOT NULL,
  entry TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (name, version)
) STRICT;
CREATE TABLE IF NOT EXISTS aliases (
  fn TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  weights TEXT NOT NULL,
  description TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (fn, name)
) STRICT;
CREATE TABLE IF NOT EXISTS namespaces (
  name TEXT PRIMARY KEY,
  settings TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
`;

interface Row {
  name: string;
  version: number;
  bundle: string;
  entry: string;
  spec: string;
  created_at: number;
  first_created_at: number;
  invocations: number;
  errors: number;
}

const SELECT = `SELECT f.name, f.version, v.bundle, v.entry, v.spec, v.created_at, f.created_at AS first_created_at,
  f.invocations, f.errors FROM functions f JOIN versions v ON v.name = f.name AND v.version = f.version`;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmts;
  /** Each function's current spec, parsed once per version (a version's spec never changes). */
  private readonly specs = new Map<string, { version: number; spec: FunctionSpec }>();

  constructor(file: string) {
    this.db = new Database(file);
    // Freed pages go back to the file system (AsyncSystem's sweep runs incremental_vacuum): queued calls
    // and expired records do not leave the file at its high-water mark. Set before the first table; an
    // older file is converted once.
    this.db.pragma('auto_vacuum = INCREMENTAL');
    if (this.db.pragma('auto_vacuum', { simple: true }) !== 2) this.db.exec('VACUUM');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.stmts = {
      list: this.db.prepare<[], Row>(`${SELECT} ORDER BY f.name`),
      get: this.db.prepare<[string], Row>(`${SELECT} WHERE f.name = ?`),
      maxVersion: this.db.prepare<[string], { v: number | null }>(
        'SELECT max(version) AS v FROM versions WHERE name = ?',
      ),
      insertVersion: this.db.prepare(
        'INSERT INTO versions (name, version, bundle, entry, spec, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      upsertFunction: this.db.prepare(
        `INSERT INTO functions (name, version, created_at) VALUES (?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET version = excluded.version`,
      ),
      deleteFunction: this.db.prepare('DELETE FROM functions WHERE name = ?'),
      deleteVersions: this.db.prepare('DELETE FROM versions WHERE name = ?'),
      listVersions: this.db.prepare<[string], VersionRow>(
        'SELECT name, version, bundle, entry, spec, created_at FROM versions WHERE name = ? ORDER BY version',
      ),
      getVersion: this.db.prepare<[string, number], VersionRow>(
        'SELECT name, version, bundle, entry, spec, created_at FROM versions WHERE name = ? AND version = ?',
      ),
      setCurrent: this.db.prepare('UPDATE functions SET version = ? WHERE name = ?'),
      listAliases: this.db.prepare<[string], AliasRow>('SELECT * FROM aliases WHERE fn = ? ORDER BY name'),
      getAlias: this.db.prepare<[string, string], AliasRow>(
        'SELECT * FROM aliases WHERE fn = ? AND name = ?',
      ),
      putAlias: this.db.prepare(
        `INSERT INTO aliases (fn, name, version, weights, description, created_at, updated_at)
         VALUES (@fn, @name, @version, @weights, @description, @created_at, @updated_at)
         ON CONFLICT(fn, name) DO UPDATE SET version = excluded.version, weights = excluded.weights,
           description = excluded.description, updated_at = excluded.updated_at`,
      ),
      deleteAlias: this.db.prepare('DELETE FROM aliases WHERE fn = ? AND name = ?'),
      deleteAliases: this.db.prepare('DELETE FROM aliases WHERE fn = ?'),
      addCounts: this.db.prepare(
        'UPDATE functions SET invocations = invocations + ?, errors = errors + ? WHERE name = ?',
      ),
      listNamespaces: this.db.prepare<[], NamespaceRow>('SELECT * FROM namespaces ORDER BY name'),
      getNamespace: this.db.prepare<[string], NamespaceRow>('SELECT * FROM namespaces WHERE name = ?'),
      putNamespace: this.db.prepare(
        `INSERT INTO namespaces (name, settings, created_at) VALUES (?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET settings = excluded.settings`,
      ),
      deleteNamespace: this.db.prepare('DELETE FROM namespaces WHERE name = ?'),
    };
    if (!this.getNamespace(DEFAULT_NAMESPACE))
      this.putNamespace(DEFAULT_NAMESPACE, { quotas: {}, labels: {}, annotations: {} }, Date.now());
  }

  listNamespaces(): NamespaceRecord[] {
    return this.stmts.listNamespaces.all().map(toNamespace);
  }

  getNamespace(name: string): NamespaceRecord | undefined {
    const row = this.stmts.getNamespace.get(name);
    return row ? toNamespace(row) : undefined;
  }

  putNamespace(name: string, settings: NamespaceSettings, now: number): NamespaceRecord {
    this.stmts.putNamespace.run(name, JSON.stringify(settings), now);
    return this.getNamespace(name)!;
  }

  deleteNamespace(name: string): boolean {
    return this.stmts.deleteNamespace.run(name).changes > 0;
  }

  listFunctions(): FunctionRecord[] {
    return this.stmts.list.all().map((row) => this.toRecord(row));
  }

  getFunction(name: string): FunctionRecord | undefined {
    const row = this.stmts.get.get(name);
    return row ? this.toRecord(row) : undefined;
  }

  putVersion(v: Omit<FunctionVersion, 'version' | 'createdAt'>, now: number): FunctionVersion {
    return this.db.transaction(() => {
      const version = (this.stmts.maxVersion.get(v.name)?.v ?? 0) + 1;
      this.stmts.insertVersion.run(v.name, version, v.bundle, v.entry, JSON.stringify(v.spec), now);
      this.stmts.upsertFunction.run(v.name, version, now);
      return { ...v, version, createdAt: now };
    })();
  }

  latestVersion(name: string): number {
    return this.stmts.maxVersion.get(name)?.v ?? 0;
  }

  listVersions(name: string): FunctionVersion[] {
    return this.stmts.listVersions.all(name).map((row) => this.toVersion(row));
  }

  getVersion(name: string, version: number): FunctionVersion | undefined {
    const row = this.stmts.getVersion.get(name, version);
    return row ? this.toVersion(row) : undefined;
  }

  setCurrent(name: string, version: number): FunctionRecord | undefined {
    if (!this.stmts.getVersion.get(name, version)) return undefined;
    this.stmts.setCurrent.run(version, name);
    return this.getFunction(name);
  }

  private toVersion(row: VersionRow): FunctionVersion {
    const current = this.specs.get(row.name);
    const spec =
      current?.version === row.version
        ? current.spec
        : deepFreeze(parseFunctionSpec(JSON.parse(row.spec)) as FunctionSpec);
    return {
      name: row.name,
      version: row.version,
      bundle: row.bundle,
      entry: row.entry,
      spec,
      createdAt: row.created_at,
    };
  }

  listAliases(fn: string): AliasRecord[] {
    return this.stmts.listAliases.all(fn).map(toAlias);
  }

  getAlias(fn: string, name: string): AliasRecord | undefined {
    const row = this.stmts.getAlias.get(fn, name);
    return row ? toAlias(row) : undefined;
  }

  putAlias(alias: AliasRecord): AliasRecord {
    this.stmts.putAlias.run({
      fn: alias.fn,
      name: alias.name,
      version: alias.version,
      weights: JSON.stringify(alias.weights),
      description: alias.description ?? null,
      created_at: alias.createdAt,
      updated_at: alias.updatedAt,
    });
    return this.getAlias(alias.fn, alias.name)!;
  }

  deleteAlias(fn: string, name: string): boolean {
    return this.stmts.deleteAlias.run(fn, name).changes > 0;
  }

  private toRecord(row: Row): FunctionRecord {
    let cached = this.specs.get(row.name);
    if (cached?.version !== row.version) {
      // Re-validated so specs written by an older version get today's defaults; frozen, as it is shared.
      cached = {
        version: row.version,
        spec: deepFreeze(parseFunctionSpec(JSON.parse(row.spec)) as FunctionSpec),
      };
      this.specs.set(row.name, cached);
    }
    return {
      name: row.name,
      version: row.version,
      bundle: row.bundle,
      entry: row.entry,
      spec: cached.spec,
      createdAt: row.created_at,
      firstCreatedAt: row.first_created_at,
      invocations: row.invocations,
      errors: row.errors,
    };
  }

  deleteFunction(name: string): boolean {
    return this.db.transaction(() => {
      const deleted = this.stmts.deleteFunction.run(name).changes > 0;
      this.specs.delete(name);
      this.stmts.deleteVersions.run(name);
      this.stmts.deleteAliases.run(name);
      return deleted;
    })();
  }

  addCounts(deltas: ReadonlyMap<string, CounterDelta>): void {
    if (deltas.size === 0) return;
    this.db.transaction(() => {
      for (const [name, d] of deltas) this.stmts.addCounts.run(d.invocations, d.errors, name);
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

interface VersionRow {
  name: string;
  version: number;
  bundle: string;
  entry: string;
  spec: string;
  created_at: number;
}

interface AliasRow {
  fn: string;
  name: string;
  version: number;
  weights: string;
  description: string | null;
  created_at: number;
  updated_at: number;
}

const weightsSchema = z.record(z.string().regex(/^\d+$/), z.number().min(0).max(100));

function toAlias(row: AliasRow): AliasRecord {
  const weights = weightsSchema.safeParse(JSON.parse(row.weights));
  return {
    fn: row.fn,
    name: row.name,
    version: row.version,
    weights: weights.success ? weights.data : {},
    ...(row.description === null ? {} : { description: row.description }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

interface NamespaceRow {
  name: string;
  settings: string;
  created_at: number;
}

const settingsSchema = z.object({
  quotas: quotasSchema.catch({}),
  labels: z.record(z.string(), z.string()).catch({}),
  annotations: z.record(z.string(), z.string()).catch({}),
});

function toNamespace(row: NamespaceRow): NamespaceRecord {
  // Written by this program; re-validated so a hand-edited row cannot carry junk further.
  const settings = settingsSchema.safeParse(JSON.parse(row.settings));
  const { quotas, labels, annotations } = settings.success
    ? settings.data
    : { quotas: {}, labels: {}, annotations: {} };
  return { name: row.name, quotas, labels, annotations, createdAt: row.created_at };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
