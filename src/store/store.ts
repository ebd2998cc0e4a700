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
  /** Stores a new version and makes it current; returns it with its number. */
  putVersion(version: Omit<FunctionVersion, 'version' | 'createdAt'>, now: number): FunctionVersion;
  deleteFunction(name: string): boolean;
  addCounts(deltas: ReadonlyMap<string, CounterDelta>): void;
  close(): void;
}
