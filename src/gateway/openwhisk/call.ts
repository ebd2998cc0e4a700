// One OpenWhisk API request: who it is from (Basic `id:secret`, the client's api_key), which namespace it
// names (`_` is the caller's own), what its key's scope allows, and its JSON body, read within a limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { type Access, type Authenticator, allows, mayInvoke } from '../../auth/authenticate.js';
import type { Principal } from '../../auth/keys.js';
import { formatZodIssues } from '../../config/function-spec.js';
import type { Namespaces } from '../../dispatch/namespaces.js';
import { NimbusError } from '../../errors.js';
import { type BodyBudget, type BodyHold, readWholeBody } from '../body-budget.js';
import { parseClientJson } from '../client-json.js';
import { ownNamespace } from '../control-api.js';
import { dropUnreadBody, toNimbusError } from '../respond.js';
import type { ControlContext, RequestTarget } from '../router.js';
import { sendOwError } from './respond.js';

export interface OwCall {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: RequestTarget;
  principal: Principal;
  /** The namespace the path names, resolved (`_` → the caller's). */
  namespace: string;
  /** What bodies read whole may take together. */
  bodies?: BodyBudget | undefined;
}

export type OwHandler = (call: OwCall) => Promise<void> | void;

export interface CallDeps {
  auth: Authenticator;
  /** The namespaces that exist. */
  namespaces: Pick<Namespaces, 'get'>;
  /** Logs a failure answered as 500 ERR_INTERNAL (its `cause` is the original). */
  onInternalError: (error: NimbusError, req: IncomingMessage) => void;
  /** What bodies read whole may take together. */
  bodies?: BodyBudget | undefined;
}

/** The caller of a request, or the OpenWhisk-shaped 401 (the admin token works too, as on every API). */
export function authenticate(auth: Authenticator, req: IncomingMessage): Principal {
  const credential = auth.identify(req);
  if (credential === undefined)
    throw new NimbusError('ERR_OPENWHISK_AUTH_REQUIRED', [], {
      headers: { 'www-authenticate': 'Basic realm="nimbus"' },
    });
  if (!credential.principal) throw new NimbusError('ERR_AUTH_INVALID');
  return credential.principal;
}

/**
 * The namespace a path segment names for `principal`: `_` is its own (the default one for the admin token).
 * One outside the key's reach is refused before it is looked up, so a key learns nothing of the namespaces
 * it may not see, not even whether they exist.
 */
export function resolveNamespace(
  segment: string,
  principal: Principal,
  namespaces: Pick<Namespaces, 'get'>,
): string {
  const ns = segment === '_' ? ownNamespace(principal) : segment;
  if (principal.namespace !== '*' && principal.namespace !== ns)
    throw new NimbusError('ERR_AUTH_FORBIDDEN', [
      principal.id,
      principal.scope,
      `access to namespace "${ns.slice(0, 80)}"`,
    ]);
  if (!namespaces.get(ns)) throw new NimbusError('ERR_OPENWHISK_NAMESPACE_UNKNOWN', [segment.slice(0, 80)]);
  return ns;
}

/** Throws ERR_AUTH_FORBIDDEN unless the caller's key may do `access` (to `fn`, when given). */
export function need(call: OwCall, access: Access | 'invoke', fn?: string): void {
  const { principal, namespace } = call;
  const ok =
    access === 'invoke'
      ? fn !== undefined && mayInvoke(principal, fn, namespace)
      : allows(principal, access, namespace, fn);
  if (!ok)
    throw new NimbusError('ERR_AUTH_FORBIDDEN', [
      principal.id,
      principal.scope,
      `${access}${fn === undefined ? '' : ` of "${fn}"`} in namespace "${namespace}"`,
    ]);
}

/**
 * A route handler of the OpenWhisk API: authenticates, resolves the namespace, runs `handler`, and answers
 * every failure in OpenWhisk's shape (a fault as ERR_INTERNAL, logged once with its stack).
 */
export function owRoute(deps: CallDeps, handler: OwHandler): (ctx: ControlContext) => Promise<void> {
  return async ({ req, res, params, url }) => {
    try {
      const principal = authenticate(deps.auth, req);
      const namespace = resolveNamespace(params.ns ?? '_', principal, deps.namespaces);
      await handler({ req, res, params, url, principal, namespace, bodies: deps.bodies });
    } catch (err) {
      dropUnreadBody(req, res);
      sendOwError(res, asNimbusError(err, req, deps));
    }
  };
}

/** A NimbusError as it is; anything else is a fault: ERR_INTERNAL with a reference, logged. */
export function asNimbusError(
  err: unknown,
  req: IncomingMessage,
  deps: Pick<CallDeps, 'onInternalError'>,
): NimbusError {
  const error = toNimbusError(err);
  if (!(err instanceof NimbusError)) deps.onInternalError(error, req);
  return error;
}

/**
 * The request body, at most `limit` bytes (past it ERR_REQUEST_BODY_TOO_LARGE at once, and the connection
 * closes: a body may never end), taken from `hold`'s budget as it arrives (ERR_REQUEST_BODIES_FULL at once
 * when the budget has no room).
 */
export function readBody(req: IncomingMessage, limit: number, hold?: BodyHold): Promise<Buffer> {
  const tooLarge = () =>
    new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [limit], { headers: { connection: 'close' } });
  return readWholeBody(req, limit, tooLarge, hold);
}

/** A JSON object body (empty: `{}`), validated by `schema`; ERR_OPENWHISK_REQUEST_INVALID says what is wrong. */
export async function readJsonBody<T extends z.ZodType>(
  req: IncomingMessage,
  limit: number,
  schema: T,
): Promise<z.output<T>> {
  const body = await readBody(req, limit);
  let value: unknown = {};
  if (body.length > 0) {
    try {
      value = parseClientJson(body.toString('utf8'));
    } catch (err) {
      throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [
        `the body is not JSON: ${(err as Error).message}`,
      ]);
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', ['the body must be a JSON object']);
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [formatZodIssues(parsed.error)]);
  return parsed.data;
}

/** `skip` and `limit` of a list (OpenWhisk's: limit 30 by default, 200 at most, 0 meaning the most). */
export function paging(url: RequestTarget): { skip: number; limit: number; count: boolean } {
  const number = (name: string, fallback: number, max: number): number => {
    const raw = url.searchParams.get(name);
    if (raw === null || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > max)
      throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [
        `${name} must be a whole number from 0 to ${max}`,
      ]);
    return n;
  };
  const limit = number('limit', 30, 200);
  return {
    skip: number('skip', 0, 1_000_000),
    limit: limit === 0 ? 200 : limit,
    count: url.searchParams.get('count') === 'true',
  };
}

/** A query flag: `true` (or a bare `?flag`) is true. */
export function flag(url: RequestTarget, name: string): boolean {
  const value = url.searchParams.get(name);
  return value === 'true' || value === '';
}
