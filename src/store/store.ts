// The Store interface: the function registry and call counters (SQLite on one node, NATS KV in a cluster).
import type { FunctionSpec } from '../config/function-spec.js';
import type { NamespaceRecord, NamespaceSettings } from '../config/namespace.js';

export interface FunctionVersion {
  /** The function's id: its name, with `.namespace` after it outside the default namespace (config/namespace.ts). */
  name: string;
  /** 1, 2, 3, ... per function; a deploy of identical content does not make a new one. */
  version: number;
  /** sha256 of the bundle (content address under the artifacts directory). */
  bundle: string;
  /** Entry file inside the bundle, optionally `#exportName`. */
  entry: string;
  spec: FunctionSpec;
  createdAt: number;
}

export interface FunctionRecord extends FunctionVersion {
  /** When the function was first deployed (epoch ms). */
  firstCreatedAt: number;
  invocations: number;
  errors: number;
}

/** A named pointer to a version of a function, with weighted traffic to others (a canary). */
export interface AliasRecord {
  /** The function's id. */
  fn: string;
  name: string;
  version: number;
  /** Other versions and the percent (0-100) of the alias's calls each takes; the rest goes to `version`. */
  weights: Record<string, number>;
  description?: string;
  createdAt: number;
  updatedAt: number;
}

export interface CounterDelta {
  invocations: number;
  errors: number;
}

export interface Store {
  listNamespaces(): NamespaceRecord[];
  getNamespace(name: string): NamespaceRecord | undefined;
  /** Creates the namespace, or replaces its settings when it exists. */
  putNamespace(name: string, settings: NamespaceSettings, now: number): NamespaceRecord;
  /** Removes an empty namespace; false when it does not exist. */
  deleteNamespace(name: string): boolean;
  listFunctions(): FunctionRecord[];
  getFunction(name: string): FunctionRecord | undefined;
  /** Stores a new version (one past the highest so far) and makes it current; returns it with its number. */
  putVersion(version: Omit<FunctionVersion, 'version' | 'createdAt'>, now: number): FunctionVersion;
  /** The highest version number a function has had (0: none); the next deploy is one past it. */
  latestVersion(name: string): number;
  /** Every version of a function, oldest first (versions are immutable). */
  listVersions(name: string): FunctionVersion[];
  getVersion(name: string, version: number): FunctionVersion | undefined;
  /** Makes an existing version current (a rollback); the record as it is then. */
  setCurrent(name: string, version: number): FunctionRecord | undefined;
  /** Removes the function, its versions and its aliases. */
  deleteFunction(name: string): boolean;
  listAliases(fn: string): AliasRecord[];
  getAlias(fn: string, name: string): AliasRecord | undefined;
  /** Creates or replaces an alias. */
  putAlias(alias: AliasRecord): AliasRecord;
  deleteAlias(fn: string, name: string): boolean;
  addCounts(deltas: ReadonlyMap<string, CounterDelta>): void;
  /**
   * Resolves once every write made so far is durable (a cluster store writes asynchronously); rejects when
   * one was refused. Absent: writes are durable when they return (SQLite).
   */
  sync?(): Promise<void>;
  /** Cluster: tells `listener` of each function changed or removed by any node (absent on a single node). */
  onChange?(listener: (name: string) => void): void;
  /**
   * Cluster: resolves once this node's mirror of functions and namespaces holds every change any node had
   * made when called (a lookup that missed awaits it before it answers "not found").
   */
  caughtUp?(): Promise<void>;
  /** Cluster: tells `listener` of each function (by id) whose aliases any node changed. */
  onAliasChange?(listener: (fn: string) => void): void;
  /** Cluster: tells `listener` of each namespace created, changed or removed by any node. */
  onNamespaceChange?(listener: (name: string) => void): void;
  close(): void;
}
