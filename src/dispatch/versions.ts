// Calls to a version or an alias of a function (`/function/{name}@{alias}`, `@{version}`, Lambda's Qualifier):
// an alias picks its version, or by its weights another one (a canary); a version other than the current one
// runs on a pinned pool of its own. Aliases are read from the store once and kept until they change.
// The split follows a low-discrepancy sequence (n·φ mod 1), not coin flips: any run of calls to an alias
// divides as its weights say, to within a call or two (a 10 % canary gets 10 % of the next 100 calls).
import { splitFunctionId } from '../config/namespace.js';
import { NimbusError } from '../errors.js';
import type { Pool } from '../instances/pool.js';
import type { AliasRecord, FunctionVersion, Store } from '../store/store.js';
import type { Dispatcher, FunctionEntry } from './dispatcher.js';

export interface VersionRouterDeps {
  store: Store;
  dispatcher: Dispatcher;
  makePool: (fn: FunctionVersion) => Pool;
}

interface Route {
  version: number;
  /** Other versions with the cumulative percent up to which a call goes to them. */
  split: { version: number; upTo: number }[];
  /** Where the alias's sequence of draws is. */
  draw: number;
}

/** The golden ratio's fractional part: n·φ mod 1 fills [0, 1) as evenly as any sequence can. */
const PHI = 0.6180339887498949;

export class VersionRouter {
  readonly #deps: VersionRouterDeps;
  /** Per function id: its aliases' routes (loaded on first use). */
  readonly #routes = new Map<string, Map<string, Route>>();

  constructor(deps: VersionRouterDeps) {
    this.#deps = deps;
  }

  /** The entry a call to `id@qualifier` goes to: a version number, or an alias. */
  resolve(id: string, qualifier: string): FunctionEntry | NimbusError {
    const { dispatcher, store, makePool } = this.#deps;
    const name = splitFunctionId(id).name;
    const current = dispatcher.get(id);
    if (!current) return new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
    const version = /^\d{1,9}$/.test(qualifier) ? Number(qualifier) : this.#pick(id, qualifier);
    if (version instanceof NimbusError) return version;
    if (version === current.fn.version) return current;
    const pinned = dispatcher.lookup(`${id}@${version}`);
    if (pinned) return pinned;
    const fn = store.getVersion(id, version);
    if (!fn) return new NimbusError('ERR_VERSION_NOT_FOUND', [name, String(version)]);
    return (
      dispatcher.versionEntry(id, fn, () => makePool(fn)) ?? new NimbusError('ERR_FUNCTION_NOT_FOUND', [name])
    );
  }

  /** The version an alias sends this call to. */
  #pick(id: string, alias: string): number | NimbusError {
    const route = this.#aliases(id).get(alias);
    if (!route) return new NimbusError('ERR_ALIAS_NOT_FOUND', [splitFunctionId(id).name, alias.slice(0, 80)]);
    if (route.split.length === 0) return route.version;
    route.draw = (route.draw + PHI) % 1;
    const percent = route.draw * 100;
    for (const { version, upTo } of route.split) if (percent < upTo) return version;
    return route.version;
  }

  #aliases(id: string): Map<string, Route> {
    let routes = this.#routes.get(id);
    if (!routes) {
      routes = new Map(this.#deps.store.listAliases(id).map((a) => [a.name, toRoute(a)]));
      this.#routes.set(id, routes);
    }
    return routes;
  }

  /** The aliases of `id` changed (or it was removed): routes are read again; pools no alias needs drain. */
  changed(id: string): void {
    this.#routes.delete(id);
    const routes = this.#aliases(id);
    const needed = new Set<number>();
    for (const route of routes.values()) {
      needed.add(route.version);
      for (const { version } of route.split) needed.add(version);
    }
    this.#deps.dispatcher.unpin(id, (version) => needed.has(version));
  }
}

function toRoute(alias: AliasRecord): Route {
  let upTo = 0;
  const split = Object.entries(alias.weights)
    .filter(([, percent]) => percent > 0)
    .map(([version, percent]) => {
      upTo += percent;
      return { version: Number(version), upTo };
    });
  return { version: alias.version, split, draw: Math.random() };
}
