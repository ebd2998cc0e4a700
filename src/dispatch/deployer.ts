// Deploy and remove: a new version is started and must load before it takes traffic; identical content
// is a no-op; deploys of one function are serialised.

import { BUNDLE_ENTRY } from '../build/build.js';
import {
  assertFunctionName,
  type FunctionSpec,
  parseFunctionSpec,
  parseHandler,
} from '../config/function-spec.js';
import { DEFAULT_NAMESPACE, functionId, type NamespaceRecord, splitFunctionId } from '../config/namespace.js';
import { NimbusError } from '../errors.js';
import type { Pool } from '../instances/pool.js';
import type { Artifacts } from '../store/artifacts.js';
import type { FunctionRecord, FunctionVersion, Store } from '../store/store.js';
import type { Dispatcher } from './dispatcher.js';

/** bubblewrap's own setup failures (its messages start `bwrap: `), as an instance's start error carries them. */
const SANDBOX_SETUP_FAILURE = /\bbwrap: (loopback|Creating new namespace failed|setting up uid map)/;

export interface DeployRequest {
  /** The function's name (not its id). */
  name: string;
  /** Default: the default namespace. */
  namespace?: string;
  /** sha256 of an uploaded bundle. */
  bundle: string;
  spec: unknown;
  /** Entry file in the bundle (default from spec.handler, else index.mjs). */
  entry?: string;
}

export interface DeployResult {
  fn: FunctionVersion;
  /** False when the same bundle and spec were already current. */
  changed: boolean;
}

export interface DeployerDeps {
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  makePool: (fn: FunctionVersion) => Pool;
  /**
   * Throws (or rejects with) a coded error when the function cannot run here (a missing interpreter, a
   * secret it names that does not exist); at deploy and rollback only.
   */
  checkRuntime?: (fn: FunctionVersion) => void | Promise<void>;
  /**
   * After a function was removed (to drop what belongs to it: its own key), awaited before `remove` answers.
   * `here`: removed through this node (also called when it was not there, so a retried removal still
   * revokes); `elsewhere`: another node removed it and this one followed.
   */
  onRemoved?: (name: string, where: 'here' | 'elsewhere', existed: boolean) => void | Promise<void>;
  now?: () => number;
  /** Cluster mode: bundles shared between nodes (published on deploy, fetched when missing). */
  bundles?: SharedBundles;
  /** Cluster mode: a version installed or removed because another node changed the registry, or why not. */
  onEvent?: (event: DeployerEvent) => void;
}

/** Where bundles live beyond this node (the NATS Object Store in a cluster). */
export interface SharedBundles {
  publish(hash: string): Promise<void>;
  ensureLocal(hash: string): Promise<void>;
}

export type DeployerEvent =
  | { type: 'function-synced'; name: string; version: number }
  | { type: 'function-unsynced'; name: string }
  | { type: 'function-sync-failed'; name: string; error: string };

export class Deployer {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly deps: DeployerDeps;

  constructor(deps: DeployerDeps) {
    this.deps = deps;
  }

  /**
   * Puts every stored function's current version in the dispatcher (at start); in a cluster, from then on
   * follows the registry: a version deployed, rolled back or removed on another node is installed or
   * removed here.
   */
  restore(): FunctionRecord[] {
    const all = this.deps.store.listFunctions();
    for (const fn of all) {
      // A bundle this node lacks (a fresh data dir) is fetched first; meanwhile the function is not served.
      if (this.deps.bundles && !this.deps.artifacts.has(fn.bundle)) void this.follow(fn.name);
      else this.deps.dispatcher.install(fn, this.deps.makePool(fn));
    }
    this.deps.store.onChange?.((id) => void this.follow(id));
    return all;
  }

  /** Brings the dispatcher in step with the store's current version of `id` (a change from any node). */
  private follow(id: string): Promise<void> {
    return this.serialised(id, async () => {
      const { store, dispatcher, bundles } = this.deps;
      const current = store.getFunction(id);
      const installed = dispatcher.get(id);
      if (!current) {
        if (installed && dispatcher.remove(id)) {
          await this.deps.onRemoved?.(id, 'elsewhere', true);
          this.deps.onEvent?.({ type: 'function-unsynced', name: id });
        }
        return;
      }
      // The same version (a rollback makes an older one current: any difference is a change).
      if (installed && installed.fn.version === current.version && installed.fn.bundle === current.bundle)
        return;
      try {
        await bundles?.ensureLocal(current.bundle);
        // Read again: a newer version (or a removal) may have come while the bundle was fetched.
        const latest = store.getFunction(id);
        if (!latest || latest.version !== current.version) return void this.follow(id);
        dispatcher.install(current, this.deps.makePool(current));
        this.deps.onEvent?.({ type: 'function-synced', name: id, version: current.version });
      } catch (err) {
        this.deps.onEvent?.({ type: 'function-sync-failed', name: id, error: (err as Error).message });
      }
    }).catch(() => {});
  }

  async deploy(request: DeployRequest): Promise<DeployResult> {
    assertFunctionName(request.name);
    const namespace = request.namespace ?? DEFAULT_NAMESPACE;
    const { store } = this.deps;
    // In a cluster, a namespace made through another node a moment ago: this node catches up first.
    if (!store.getNamespace(namespace)) await store.caughtUp?.();
    const ns = store.getNamespace(namespace);
    if (!ns) throw new NimbusError('ERR_NAMESPACE_NOT_FOUND', [namespace.slice(0, 80)]);
    const id = functionId(namespace, request.name);
    return this.serialised(id, () => this.deployNow(id, ns, request));
  }

  /**
   * Makes version `to` of function `id` current again (default: the version before the current one): its
   * pool takes new calls at once and the current one drains. The version's code loaded when it was
   * deployed, so this does not wait for a load.
   */
  rollback(id: string, to?: number): Promise<FunctionRecord> {
    return this.serialised(id, async () => {
      const { store, dispatcher, makePool } = this.deps;
      const current = store.getFunction(id);
      if (!current) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [splitFunctionId(id).name]);
      const target =
        to ??
        store
          .listVersions(id)
          .map((v) => v.version)
          .filter((v) => v < current.version)
          .at(-1);
      if (target === undefined)
        throw new NimbusError('ERR_VERSION_NOT_FOUND', [
          splitFunctionId(id).name,
          `before ${current.version}`,
        ]);
      if (target === current.version) return current;
      const version = store.getVersion(id, target);
      if (!version)
        throw new NimbusError('ERR_VERSION_NOT_FOUND', [splitFunctionId(id).name, String(target)]);
      await this.deps.checkRuntime?.(version);
      const pool = makePool(version);
      const record = store.setCurrent(id, target)!;
      try {
        await this.durable(id);
      } catch (err) {
        await pool.close('the rollback could not be stored');
        throw err;
      }
      dispatcher.install(record, pool);
      return record;
    });
  }

  /** Removes function `id` (its name, `name.namespace` outside the default namespace). */
  remove(id: string): Promise<boolean> {
    assertFunctionName(splitFunctionId(id).name);
    return this.serialised(id, async () => {
      const removed = this.deps.store.deleteFunction(id);
      await this.durable(id);
      this.deps.dispatcher.remove(id);
      await this.deps.onRemoved?.(id, 'here', removed);
      return removed;
    });
  }

  private async deployNow(id: string, ns: NamespaceRecord, request: DeployRequest): Promise<DeployResult> {
    const { store, artifacts, dispatcher, makePool, bundles } = this.deps;
    const spec: FunctionSpec = parseFunctionSpec(request.spec);
    // In a cluster the bundle may have been uploaded through another node.
    if (!artifacts.has(request.bundle) && bundles) await bundles.ensureLocal(request.bundle).catch(() => {});
    if (!artifacts.has(request.bundle))
      throw new NimbusError('ERR_BUNDLE_NOT_FOUND', [request.bundle.slice(0, 80)]);
    const entry = request.entry ?? defaultEntry(spec);
    checkEntry(entry);
    const current = store.getFunction(id);
    if (
      current &&
      current.bundle === request.bundle &&
      current.entry === entry &&
      JSON.stringify(current.spec) === JSON.stringify(spec) &&
      dispatcher.get(id)
    ) {
      return { fn: current, changed: false };
    }
    if (!current) checkFunctionQuota(store, ns);
    const now = (this.deps.now ?? Date.now)();
    const candidate: FunctionVersion = {
      name: id,
      version: store.latestVersion(id) + 1,
      bundle: request.bundle,
      entry,
      spec,
      createdAt: now,
    };
    await this.deps.checkRuntime?.(candidate);
    // The new version must load before it takes traffic; its first instance then serves warm.
    let pool = makePool(candidate);
    try {
      try {
        await pool.warm();
      } catch (err) {
        if (!SANDBOX_SETUP_FAILURE.test((err as Error).message)) throw err;
        // bubblewrap failed to set up the sandbox itself (seen on a loaded host: its loopback setup in a
        // new network namespace, now and then): not the code's fault, so once more before saying it is.
        await pool.close('its sandbox could not be set up');
        pool = makePool(candidate);
        await pool.warm();
      }
    } catch (err) {
      await pool.close('the function failed to load');
      // No room to start it (a namespace quota, the memory budget) is not a fault of the code: said as it is.
      if (err instanceof NimbusError && err.status === 429) throw err;
      // A first deploy has no previous version to keep serving: say what happened instead.
      const outcome = current ? `version ${current.version} keeps serving` : 'nothing was deployed';
      throw new NimbusError('ERR_FUNCTION_LOAD_FAILED', [id, outcome, (err as Error).message], {
        cause: err,
      });
    }
    let stored: FunctionVersion;
    try {
      // The other nodes fetch the bundle when they see the version: it is shared before it is named.
      await bundles?.publish(candidate.bundle);
      stored = store.putVersion({ name: candidate.name, bundle: candidate.bundle, entry, spec }, now);
      await this.durable(id);
    } catch (err) {
      await pool.close('the version could not be stored');
      throw err;
    }
    if (stored.version !== candidate.version) {
      await pool.close('version mismatch');
      throw new NimbusError('ERR_INTERNAL', [
        `version ${stored.version} stored while ${candidate.version} was started`,
      ]);
    }
    dispatcher.install(stored, pool);
    return { fn: stored, changed: true };
  }

  /** Waits until the store's writes are acknowledged (JetStream in a cluster): only then is a client told. */
  private async durable(id: string): Promise<void> {
    try {
      await this.deps.store.sync?.();
    } catch (err) {
      throw new NimbusError('ERR_CLUSTER_WRITE_FAILED', [id, (err as Error).message], { cause: err });
    }
  }

  private serialised<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    const tail = next.catch(() => {});
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return next;
  }
}

/** A new function in a namespace at its maxFunctions quota is refused. */
function checkFunctionQuota(store: Store, ns: NamespaceRecord): void {
  const max = ns.quotas.maxFunctions;
  if (max === undefined) return;
  const count = store.listFunctions().filter((f) => splitFunctionId(f.name).namespace === ns.name).length;
  if (count >= max)
    throw new NimbusError('ERR_QUOTA_FUNCTIONS', [ns.name, max], { headers: { 'retry-after': '60' } });
}

/**
 * An entry (`file#export`) names a file inside the bundle: a relative path without `..`, so the runner never
 * imports a host file (without a sandbox, the host's own) and a load error never describes one.
 */
export function checkEntry(entry: string): void {
  const file = entry.split('#')[0]!;
  if (
    entry.length > 1000 ||
    file === '' ||
    /[\0\\]/.test(entry) ||
    file.startsWith('/') ||
    file.split('/').includes('..')
  )
    throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [
      `entry: "${entry.slice(0, 80)}" must name a file inside the bundle (a relative path without "..")`,
    ]);
}

function defaultEntry(spec: FunctionSpec): string {
  const { exportName } = parseHandler(spec.handler);
  return exportName ? `${BUNDLE_ENTRY}#${exportName}` : BUNDLE_ENTRY;
}
