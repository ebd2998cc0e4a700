// The control API's core: every route but invoke behind one router, one access check and one error boundary.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Access, type Authenticator, allows } from '../auth/authenticate.js';
import type { Principal } from '../auth/keys.js';
import { DEFAULT_NAMESPACE, namespaceParam } from '../config/namespace.js';
import { NimbusError } from '../errors.js';
import { parseClientJson } from './client-json.js';
import { openApiDocument } from './openapi.js';
import { dropUnreadBody, sendError, sendJson, toNimbusError } from './respond.js';
import { type RouteInfo, Router } from './router.js';

/** Largest JSON body the control API reads. */
export const CONTROL_BODY_LIMIT_BYTES = 1024 * 1024;

export interface ControlApiDeps {
  debug: boolean;
  auth: Authenticator;
  /** Logs a failure the caller sees as 500 ERR_INTERNAL: `error.message` has its reference, `error.cause` the original. */
  onInternalError: (error: NimbusError, req: IncomingMessage) => void;
  /** Route groups (functions, namespaces, keys, async calls, compat APIs), each in its own module. */
  routes: readonly ((router: Router) => void)[];
}

export interface ControlApi {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** The routes registered (compat APIs' included), for checks such as /openapi.json's drift test. */
  readonly routes: readonly RouteInfo[];
}

/**
 * The control API: one router for every non-invoke route, behind one error boundary. A route's access is
 * checked here, in the namespace its scope says (router.ts `RouteScope`).
 */
export function createControlApi(deps: ControlApiDeps): ControlApi {
  const router = new Router()
    .add('GET', '/healthz', ({ res }) => sendJson(res, 200, { status: 'ok' }), { access: 'public' })
    .add('GET', '/openapi.json', ({ res }) => sendJson(res, 200, openApiDocument()), { access: 'public' });
  for (const addRoutes of deps.routes) addRoutes(router);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // The error boundary: whatever a handler throws, now or later, becomes one coded answer.
    const fail = (err: unknown): void => {
      dropUnreadBody(req, res);
      const error = toNimbusError(err);
      if (!(err instanceof NimbusError)) deps.onInternalError(error, req);
      sendError(res, error, deps.debug);
    };
    try {
      const found = router.match(req.method!, req.url!);
      if (found.kind === 'not-found') {
        fail(new NimbusError('ERR_ROUTE_NOT_FOUND', [req.method!, printable(req.url!)]));
        return;
      }
      if (found.kind === 'method-not-allowed') {
        fail(
          new NimbusError('ERR_METHOD_NOT_ALLOWED', [req.method!, printable(req.url!)], {
            headers: { allow: found.allowed.join(', ') },
          }),
        );
        return;
      }
      const { route, params, url } = found;
      let principal: Principal | undefined;
      if (route.access !== 'public') {
        const asked = url.searchParams.get('namespace');
        const namespace =
          route.scope === 'global'
            ? '*'
            : route.scope === 'own' || asked === '*'
              ? null
              : namespaceParam(asked);
        principal = authorize(deps.auth, req, route.access, namespace);
      }
      Promise.resolve(route.handler({ req, res, params, url, principal })).catch(fail);
    } catch (err) {
      fail(err);
    }
  };
  return { handle, routes: router.routes() };
}

/**
 * The principal of a request that needs `access`: ERR_AUTH_REQUIRED without a credential, ERR_AUTH_INVALID
 * for a wrong one, ERR_AUTH_FORBIDDEN for a key whose scope falls short.
 */
export function authorize(
  auth: Authenticator,
  req: IncomingMessage,
  access: Access,
  /** null: the caller's own namespace (for requests over what it may see, filtered by the handler). */
  namespace: string | null,
  fn?: string,
): Principal {
  const credential = auth.identify(req);
  if (credential === undefined)
    throw new NimbusError('ERR_AUTH_REQUIRED', [], {
      headers: { 'www-authenticate': 'Bearer realm="nimbus"' },
    });
  const { principal } = credential;
  if (!principal) throw new NimbusError('ERR_AUTH_INVALID');
  const where = namespace ?? ownNamespace(principal);
  if (!allows(principal, access, where, fn))
    throw new NimbusError('ERR_AUTH_FORBIDDEN', [
      principal.id,
      principal.scope,
      where === '*' ? `${access} in every namespace` : `${access} in namespace "${where.slice(0, 80)}"`,
    ]);
  return principal;
}

/** The namespace a principal acts in by default: its own, or the default one for the admin token. */
export function ownNamespace(principal: Principal): string {
  return principal.namespace === '*' ? DEFAULT_NAMESPACE : principal.namespace;
}

/** A request target as an error message may quote it: at most 200 characters, no control characters. */
function printable(target: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const clean = target.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

/** Reads a JSON body of at most CONTROL_BODY_LIMIT_BYTES. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > CONTROL_BODY_LIMIT_BYTES)
      throw new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [CONTROL_BODY_LIMIT_BYTES]);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const value = parseClientJson(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Error('expected a JSON object');
    return value;
  } catch (err) {
    throw new NimbusError('ERR_REQUEST_INVALID', [`body is not a JSON object: ${(err as Error).message}`]);
  }
}
