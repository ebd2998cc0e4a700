// Deploy and remove: a new version is started and must load before it takes traffic; identical content
// is a no-op; deploys of one function are serialised.

import { BUNDLE_ENTRY } from '../build/build.js';
import {
  assertFunctionName,
  type FunctionSpec,
  parseFunctionSpec,
  parseHandler,
} from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import type { Pool } from '../instances/pool.js';
import type { Artifacts } from '../store/artifacts.js';
import type { FunctionRecord, FunctionVersion, Store } from '../store/store.js';
import type { Dispatcher } from './dispatcher.js';

export interface DeployRequest {
  name: string;
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
    return this.serialised(request.name, () => this.deployNow(request));
  }

  remove(name: string): Promise<boolean> {
    assertFunctionName(name);
    return this.serialised(name, async () => {
      const removed = this.deps.store.deleteFunction(name);
      this.deps.dispatcher.remove(name);
      if (removed) this.deps.onRemoved?.(name);
      return removed;
    });
  }

  private async deployNow(request: DeployRequest): Promise<DeployResult> {
    const { store, artifacts, dispatcher, makePool } = this.deps;
    const spec: FunctionSpec = parseFunctionSpec(request.spec);
    if (!artifacts.has(request.bundle))
      throw new NimbusError('ERR_BUNDLE_NOT_FOUND', [request.bundle.slice(0, 80)]);
    const entry = request.entry ?? defaultEntry(spec);
    const current = store.getFunction(request.name);
    if (
      current &&
      current.bundle === request.bundle &&
      current.entry === entry &&
      JSON.stringify(current.spec) === JSON.stringify(spec) &&
      dispatcher.get(request.name)
    ) {
      return { fn: current, changed: false };
    }
    const now = (this.deps.now ?? Date.now)();
    const candidate: FunctionVersion = {
      name: request.name,
      version: (current?.version ?? 0) + 1,
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
      throw new NimbusError('ERR_FUNCTION_LOAD_FAILED', [request.name, (err as Error).message], {
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

function defaultEntry(spec: FunctionSpec): string {
  const { exportName } = parseHandler(spec.handler);
  return exportName ? `${BUNDLE_ENTRY}#${exportName}` : BUNDLE_ENTRY;
}
