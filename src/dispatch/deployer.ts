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
  /** Throws a coded error when this host cannot run the function (a missing interpreter); at deploy only. */
  checkRuntime?: (fn: FunctionVersion) => void;
  /** After a function was removed (to drop what belongs to it: its own key). */
  onRemoved?: (name: string) => void;
  now?: () => number;
}

export class Deployer {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly deps: DeployerDeps;

  constructor(deps: DeployerDeps) {
    this.deps = deps;
  }

  /** Puts every stored function's current version in the dispatcher (at start). */
  restore(): FunctionRecord[] {
    const all = this.deps.store.listFunctions();
    for (const fn of all) this.deps.dispatcher.install(fn, this.deps.makePool(fn));
    return all;
  }

  deploy(request: DeployRequest): Promise<DeployResult> {
    assertFunctionName(request.name);
    const namespace = request.namespace ?? DEFAULT_NAMESPACE;
    const ns = this.deps.store.getNamespace(namespace);
    if (!ns) throw new NimbusError('ERR_NAMESPACE_NOT_FOUND', [namespace.slice(0, 80)]);
    const id = functionId(namespace, request.name);
    return this.serialised(id, () => this.deployNow(id, ns, request));
  }

  /** Removes function `id` (its name, `name.namespace` outside the default namespace). */
  remove(id: string): Promise<boolean> {
    assertFunctionName(splitFunctionId(id).name);
    return this.serialised(id, async () => {
      const removed = this.deps.store.deleteFunction(id);
      this.deps.dispatcher.remove(id);
      if (removed) this.deps.onRemoved?.(id);
      return removed;
    });
  }

  private async deployNow(id: string, ns: NamespaceRecord, request: DeployRequest): Promise<DeployResult> {
    const { store, artifacts, dispatcher, makePool } = this.deps;
    const spec: FunctionSpec = parseFunctionSpec(request.spec);
    if (!artifacts.has(request.bundle))
      throw new NimbusError('ERR_BUNDLE_NOT_FOUND', [request.bundle.slice(0, 80)]);
    const entry = request.entry ?? defaultEntry(spec);
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
    this.deps.checkRuntime?.(candidate);
    // The new version must load before it takes traffic; its first instance then serves warm.
    const pool = makePool(candidate);
    try {
      await pool.warm();
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
    const stored = store.putVersion({ name: candidate.name, bundle: candidate.bundle, entry, spec }, now);
    if (stored.version !== candidate.version) {
      await pool.close('version mismatch');
      throw new NimbusError('ERR_INTERNAL', [
        `version ${stored.version} stored while ${candidate.version} was started`,
      ]);
    }
    dispatcher.install(stored, pool);
    return { fn: stored, changed: true };
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

function defaultEntry(spec: FunctionSpec): string {
  const { exportName } = parseHandler(spec.handler);
  return exportName ? `${BUNDLE_ENTRY}#${exportName}` : BUNDLE_ENTRY;
}
