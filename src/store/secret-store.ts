// The secrets store (OpenFaaS's secrets): named values per namespace, sealed at rest with AES-256-GCM under a
// key derived from the master key, each bound to its namespace and name (a sealed value copied to another
// name does not open). A function gets secrets of its own namespace. Values leave the store only for the
// files an instance reads (/var/openfaas/secrets/<name>); listings show names. Two implementations: SQLite on
// one node (sqlite-secret-store.ts), JetStream KV in a cluster (nats-secret-store.ts).
import type { Sealer } from '../auth/master-key.js';
import { SECRET_NAME_RE } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';

/** Largest secret value: 512 KiB (its base64 must fit a control-API body of 1 MiB). */
export const SECRET_VALUE_LIMIT_BYTES = 512 * 1024;

export interface SecretInfo {
  namespace: string;
  name: string;
  createdAt: number;
  updatedAt: number;
}

/**
 * Where secrets live. Reads are synchronous; `create`, `update` and `remove` take effect on this node at
 * once, and `sync()` resolves once every write so far is durable (at once on SQLite; once JetStream
 * acknowledged it in a cluster). An API answers only after it.
 */
export interface SecretStore {
  /** Stores a new secret; ERR_SECRET_EXISTS when the name is taken in the namespace. */
  create(namespace: string, name: string, value: Buffer, now?: number): SecretInfo;
  /** Replaces a secret's value; ERR_SECRET_NOT_FOUND when there is none. Instances started after it see it. */
  update(namespace: string, name: string, value: Buffer, now?: number): SecretInfo;
  has(namespace: string, name: string): boolean;
  /** The namespace's secrets by name. */
  list(namespace: string): SecretInfo[];
  remove(namespace: string, name: string): boolean;
  /** Drops every secret of a namespace (when the namespace is removed). */
  removeNamespace(namespace: string): void;
  /** Throws ERR_SECRET_NOT_FOUND naming the first of `names` the namespace lacks. */
  assertExist(namespace: string, names: readonly string[]): void;
  /** The values of `names`, for an instance's files; ERR_SECRET_NOT_FOUND when one is gone. */
  values(namespace: string, names: readonly string[]): Map<string, Buffer>;
  /** Resolves once every write made so far is durable; rejects when one was refused. */
  sync(): Promise<void>;
  /**
   * Cluster: resolves once this node holds every secret change any node had made when called (a lookup
   * that missed awaits it before it answers "not found").
   */
  caughtUp?(): Promise<void>;
  close(): void;
}

/** A secret as stored: its info and its value sealed for its namespace and name. */
export interface SecretRecord extends SecretInfo {
  sealed: Buffer;
}

/** Throws ERR_SECRET_INVALID unless `name` can name a secret. */
export function assertSecretName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SECRET_NAME_RE.test(name))
    throw new NimbusError('ERR_SECRET_INVALID', [
      `the name ${JSON.stringify(String(name).slice(0, 80))} must be 1-253 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    ]);
}

/** Throws ERR_SECRET_INVALID when a value is over the limit. */
export function checkSecretValue(value: Buffer): void {
  if (value.length > SECRET_VALUE_LIMIT_BYTES)
    throw new NimbusError('ERR_SECRET_INVALID', [`the value is over ${SECRET_VALUE_LIMIT_BYTES} bytes`]);
}

export function sealSecret(sealer: Sealer, namespace: string, name: string, value: Buffer): Buffer {
  return sealer.seal(value, sealContext(namespace, name));
}

/** The plain values of `names` from their sealed records; ERR_SECRET_NOT_FOUND for one the store lacks. */
export function openSecrets(
  sealer: Sealer,
  namespace: string,
  names: readonly string[],
  sealedOf: (name: string) => Buffer | undefined,
): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of names) {
    const sealed = sealedOf(name);
    if (!sealed) throw new NimbusError('ERR_SECRET_NOT_FOUND', [name]);
    const value = sealer.open(sealed, sealContext(namespace, name));
    // A value sealed under another master key, or tampered with: never served.
    if (!value)
      throw new NimbusError('ERR_INTERNAL', [`secret "${name}" does not open with this master key`]);
    out.set(name, value);
  }
  return out;
}

function sealContext(namespace: string, name: string): string {
  return `secret:${namespace}/${name}`;
}
