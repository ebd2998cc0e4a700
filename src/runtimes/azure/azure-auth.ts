// The gateway's part of an Azure Functions app: Azure's function keys. A route with `authLevel: function` or
// `admin` (and Azure's admin route, `/admin/…`) needs a Nimbus key that may invoke the function, sent as
// Azure clients send a function key: the `x-functions-key` header or the `code` query parameter. Either is
// consumed here, valid or not, whatever the route: the function never sees it.
import type { IncomingMessage } from 'node:http';
import { createContext, Script } from 'node:vm';
import { type Authenticator, type Credential, mayInvoke } from '../../auth/authenticate.js';
import { NimbusError } from '../../errors.js';
import type { FunctionVersion } from '../../store/store.js';
import type { AuthLevel } from './azure-spec.js';
import {
  belowPrefix,
  comparePrecedence,
  matchRoute,
  parseRouteTemplate,
  type RouteTemplate,
} from './route-template.js';

const KEY_HEADER = 'x-functions-key';
/**
 * The longest the gateway spends matching one path against an app's routes when a route may backtrack (a
 * `regex()` constraint or several parameters in a segment are the deployer's code, run on the gateway's
 * thread): past it the request is refused, never let through as anonymous. Ordinary paths take microseconds.
 */
export const ROUTE_MATCH_BUDGET_MS = 250;
/** A query that may hold `code` (spelled in any case, or percent-encoded): worth splitting. */
const CODE_RE = /c|%63|%43/i;

interface KeyedRoute {
  template: RouteTemplate;
  methods: ReadonlySet<string>;
  authLevel: AuthLevel;
}

interface AuthTable {
  routePrefix: string;
  /** In the order the instance tries them; undefined when every route is anonymous (nothing to match). */
  routes: KeyedRoute[] | undefined;
  /** A route's matching may backtrack: it runs under ROUTE_MATCH_BUDGET_MS. */
  bounded: boolean;
}

/** Compiled once per deployed version. */
const tables = new WeakMap<FunctionVersion, AuthTable>();

function tableOf(fn: FunctionVersion): AuthTable {
  let table = tables.get(fn);
  if (!table) {
    const azure = fn.spec.azure!;
    const routes = azure.http
      .map((h) => ({
        template: parseRouteTemplate(h.route),
        methods: new Set<string>(h.methods),
        authLevel: h.authLevel,
      }))
      .sort((a, b) => comparePrecedence(a.template, b.template));
    const keyed = routes.some((r) => r.authLevel !== 'anonymous');
    table = {
      routePrefix: azure.routePrefix,
      routes: keyed ? routes : undefined,
      bounded: keyed && routes.some((r) => r.template.backtracks),
    };
    tables.set(fn, table);
  }
  return table;
}

export interface AzureAccess {
  /** The target without the `code` parameter. */
  target: string;
}

/**
 * Checks the key a request to an Azure Functions app needs and consumes the one it carries: the
 * `x-functions-key` header is removed from the request itself (so no path passes it on) and `code` from
 * the returned target. `credential` is what the Authorization header proved, which serves as well.
 */
export function azureAccess(
  fn: FunctionVersion,
  req: IncomingMessage,
  target: string,
  auth: Authenticator,
  credential: Credential | undefined,
  /** The function's name and namespace, as a key's reach names them. */
  named: { name: string; namespace: string },
): AzureAccess | NimbusError {
  const headerKey = takeHeader(req);
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  let code: string | undefined;
  let rest = target;
  // Query names are matched ignoring case, as ASP.NET reads them (`Code=` is the key too).
  if (q !== -1 && CODE_RE.test(target.slice(q + 1))) {
    const kept: string[] = [];
    for (const pair of target.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (decodeQueryPart(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase() === 'code')
        code ??= decodeQueryPart(pair.slice(eq + 1));
      else kept.push(pair);
    }
    rest = kept.length > 0 ? `${path}?${kept.join('&')}` : path;
  }
  const table = tableOf(fn);
  const level = table.bounded
    ? withinBudget(() => levelOf(table, req.method ?? 'GET', path))
    : levelOf(table, req.method ?? 'GET', path);
  if (level === undefined)
    return new NimbusError('ERR_AZURE_ROUTE_TIMEOUT', [
      path.slice(0, 200),
      ROUTE_MATCH_BUDGET_MS,
      named.name,
    ]);
  if (level === 'anonymous') return { target: rest };
  const key = headerKey ?? code;
  let principal = credential?.principal;
  if (key !== undefined) {
    principal = key === '' ? undefined : auth.principalOfSecret(key);
    if (!principal) return new NimbusError('ERR_AUTH_INVALID');
  }
  if (!principal)
    return new NimbusError('ERR_AZURE_KEY_REQUIRED', [
      req.method ?? 'GET',
      path.slice(0, 200),
      named.name,
      level,
    ]);
  if (!mayInvoke(principal, named.name, named.namespace))
    return new NimbusError('ERR_FUNCTION_FORBIDDEN', [principal.id, named.name]);
  return { target: rest };
}

/** The auth level of a request: Azure's admin route needs `admin`; a route, its own; anything else none. */
function levelOf(table: AuthTable, method: string, path: string): AuthLevel {
  if (/^\/admin(?:\/|$)/i.test(path)) return 'admin';
  if (!table.routes) return 'anonymous';
  const below = belowPrefix(path, table.routePrefix);
  if (below === undefined) return 'anonymous';
  for (const route of table.routes) {
    if (route.methods.has(method) && matchRoute(route.template, below)) return route.authLevel;
  }
  return 'anonymous';
}

// A context of its own whose one script calls back into this one: V8 interrupts whatever runs under the
// script's timeout, a regular expression backtracking included.
const budgetContext = createContext({ job: undefined as (() => unknown) | undefined });
const runJob = new Script('job()');

/** `work()`'s result, or undefined when it ran past ROUTE_MATCH_BUDGET_MS (it is interrupted then). */
function withinBudget<T>(work: () => T): T | undefined {
  budgetContext.job = work;
  try {
    return runJob.runInContext(budgetContext, { timeout: ROUTE_MATCH_BUDGET_MS }) as T;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return undefined;
    throw err;
  } finally {
    budgetContext.job = undefined;
  }
}

/** Removes `x-functions-key` from the request (raw and parsed headers); its first value. */
function takeHeader(req: IncomingMessage): string | undefined {
  const value = req.headers[KEY_HEADER];
  if (value === undefined) return undefined;
  delete req.headers[KEY_HEADER];
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i]!.toLowerCase() === KEY_HEADER) raw.splice(i, 2);
  return Array.isArray(value) ? value[0] : value;
}

function decodeQueryPart(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}
