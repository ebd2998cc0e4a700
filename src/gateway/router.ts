// The control API's router: method + path → handler on find-my-way (fastify's router), behind one error
// boundary. Path and query are cut from the raw request target by hand (never `new URL(req.url, base)`,
// which reads `//host/...` as an authority); path parameters are decoded by the router after matching.
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { Principal } from '../auth/keys.js';
import { NimbusError } from '../errors.js';

/** What a request may need before its handler runs (checked by the control API, not by the router). */
export type RouteAccess = 'public' | 'read' | 'deploy' | 'admin';

/** The parts of the request target a handler reads. */
export interface RequestTarget {
  /** The raw path, percent-encoding kept. */
  pathname: string;
  searchParams: URLSearchParams;
}

export interface ControlContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path parameters, decoded. */
  params: Record<string, string>;
  url: RequestTarget;
  /** Who the request acts as (checked against the route's access); undefined on public routes. */
  principal?: Principal | undefined;
}

export type Handler = (ctx: ControlContext) => Promise<void> | void;

/**
 * Where a route's access is checked: `request`, in the namespace `?namespace=` names (default: the default
 * one; `*`: the caller's own, and the handler filters); `own`, the caller's own namespace (the handler checks
 * what it touches); `global`, over every namespace (admin credentials of no one namespace).
 */
export type RouteScope = 'request' | 'own' | 'global';

export interface RouteOptions {
  /**
   * Who may call the route. Default `admin`. `public`: the handler authenticates by itself (compat APIs
   * with their own schemes) or needs nobody.
   */
  access?: RouteAccess;
  /** Default `request`. */
  scope?: RouteScope;
  /**
   * The compatibility API the route belongs to: documented in docs/compat.md in that API's own terms, not in
   * /openapi.json (whose drift test covers every route without it).
   */
  compat?: CompatApi;
}

export type CompatApi = 'openfaas' | 'lambda' | 'openwhisk';

/** A registered route as the router holds it: what /openapi.json must describe (test/integration/openapi.test.ts). */
export interface RouteInfo {
  method: string;
  /** find-my-way's form: `:param`, `*`. */
  path: string;
  access: RouteAccess;
  scope: RouteScope;
  compat: CompatApi | undefined;
}

export interface Route {
  handler: Handler;
  access: RouteAccess;
  scope: RouteScope;
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string>; url: RequestTarget }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

/** Longest path parameter accepted (a function name is 63 characters; ARNs and ids are longer). */
const MAX_PARAM_LENGTH = 2048;

export class Router {
  readonly #fmw = FindMyWay({
    caseSensitive: true,
    ignoreTrailingSlash: false,
    maxParamLength: MAX_PARAM_LENGTH,
  });
  readonly #methods = new Set<string>();
  readonly #routes: RouteInfo[] = [];

  add(method: string, path: string, handler: Handler, options: RouteOptions = {}): this {
    const route: Route = { handler, access: options.access ?? 'admin', scope: options.scope ?? 'request' };
    this.#fmw.on(method as HTTPMethod, path, () => {}, route);
    this.#methods.add(method);
    this.#routes.push({ method, path, access: route.access, scope: route.scope, compat: options.compat });
    return this;
  }

  /** Every route added, in order. */
  routes(): readonly RouteInfo[] {
    return [...this.#routes];
  }

  /**
   * The route for a request target. Throws ERR_REQUEST_INVALID for a target that is not an origin-form
   * path (`*`, `http://…`) or whose percent-encoding is malformed.
   */
  match(method: string, target: string): RouteMatch {
    const url = splitTarget(target);
    const path = url.pathname;
    const found = this.#find(method, path) ?? (method === 'HEAD' ? this.#find('GET', path) : undefined);
    if (found) return { kind: 'found', route: found.store, params: found.params, url };
    const allowed = [...this.#methods].filter((m) => m !== method && this.#find(m, path));
    if (allowed.length > 0) return { kind: 'method-not-allowed', allowed };
    // find-my-way answers "no route" for a parameter it cannot decode: say what is wrong instead.
    if (!isWellEncoded(path))
      throw new NimbusError('ERR_REQUEST_INVALID', ['the URL path has malformed percent-encoding']);
    return { kind: 'not-found' };
  }

  #find(method: string, path: string): { store: Route; params: Record<string, string> } | undefined {
    if (!this.#methods.has(method)) return undefined;
    const found = this.#fmw.find(method as HTTPMethod, path);
    if (!found) return undefined;
    return { store: found.store as Route, params: found.params as Record<string, string> };
  }
}

/** Cuts `/path?query` into its parts; anything but an origin-form target is refused. */
export function splitTarget(target: string): RequestTarget {
  if (target.charCodeAt(0) !== 47 /* / */)
    throw new NimbusError('ERR_REQUEST_INVALID', ['the request target must be a path starting with "/"']);
  const q = target.indexOf('?');
  return q === -1
    ? { pathname: target, searchParams: new URLSearchParams() }
    : { pathname: target.slice(0, q), searchParams: new URLSearchParams(target.slice(q + 1)) };
}

function isWellEncoded(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}
