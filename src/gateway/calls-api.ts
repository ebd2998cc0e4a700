// /system/calls: call records (status, attempts, the stored response), dead letters and their redrive. A
// credential of one namespace names a function of it (`?function=`); one of no namespace sees every call.
import { isUtf8 } from 'node:buffer';
import { type Access, allows } from '../auth/authenticate.js';
import type { Principal } from '../auth/keys.js';
import { splitFunctionId } from '../config/namespace.js';
import { NimbusError } from '../errors.js';
import type { AsyncSystem } from '../queue/async-system.js';
import { CALL_STATUSES, type CallRecord, type CallStatus } from '../queue/calls.js';
import { sendJson } from './respond.js';
import type { Router } from './router.js';

export const DEFAULT_CALL_PAGE = 50;
export const MAX_CALL_PAGE = 1000;

/**
 * The function (id) a request is about, once `principal` may do `access` to it; undefined (every function)
 * only for credentials of no one namespace.
 */
function reachable(
  principal: Principal | undefined,
  access: Access,
  fn: string | undefined,
): string | undefined {
  if (!principal) throw new NimbusError('ERR_AUTH_REQUIRED');
  if (fn === undefined) {
    if (principal.namespace === '*' && principal.functions === '*') return undefined;
    throw new NimbusError('ERR_REQUEST_INVALID', [
      'name the function the calls are of (?function=NAME, NAME.NAMESPACE outside the default one)',
    ]);
  }
  const { name, namespace } = splitFunctionId(fn);
  if (!allows(principal, access, namespace, name))
    throw new NimbusError('ERR_AUTH_FORBIDDEN', [principal.id, principal.scope, `${access} on ${fn}`]);
  return fn;
}

export function callRoutes(system: AsyncSystem): (router: Router) => void {
  /** A call record, when `principal` may do `access` to its function (else it does not exist for it). */
  const record = async (
    principal: Principal | undefined,
    access: Access,
    id: string,
  ): Promise<CallRecord> => {
    const found = await system.calls.get(id);
    const { name, namespace } = splitFunctionId(found?.fn ?? '');
    if (!found || !principal || !allows(principal, access, namespace, name))
      throw new NimbusError('ERR_CALL_NOT_FOUND', [id.slice(0, 80)]);
    return found;
  };
  return (router) => {
    router
      .add(
        'GET',
        '/system/calls',
        async ({ res, url, principal }) => {
          const fn = reachable(principal, 'read', url.searchParams.get('function') ?? undefined);
          const status = url.searchParams.get('status') ?? undefined;
          if (status !== undefined && !CALL_STATUSES.includes(status as CallStatus))
            throw new NimbusError('ERR_REQUEST_INVALID', [
              `status must be one of ${CALL_STATUSES.join(', ')}`,
            ]);
          const limitParam = url.searchParams.get('limit');
          const limit = limitParam === null ? DEFAULT_CALL_PAGE : Number(limitParam);
          if (!Number.isInteger(limit) || limit < 0 || limit > MAX_CALL_PAGE)
            throw new NimbusError('ERR_REQUEST_INVALID', [
              `limit must be an integer from 0 to ${MAX_CALL_PAGE}`,
            ]);
          const before = url.searchParams.get('before') ?? undefined;
          const [calls, counts] = await Promise.all([
            limit === 0
              ? Promise.resolve([])
              : system.calls.list({ fn, status: status as CallStatus | undefined, limit, before }),
            system.calls.counts(fn),
          ]);
          sendJson(res, 200, { calls: calls.map((c) => callView(c, false)), counts });
        },
        { access: 'read', scope: 'own' },
      )
      .add(
        'POST',
        '/system/calls/redrive',
        async ({ res, url, principal }) => {
          const fn = reachable(principal, 'deploy', url.searchParams.get('function') ?? undefined);
          sendJson(res, 200, { redriven: await system.redriveAll(fn) });
        },
        { access: 'deploy', scope: 'own' },
      )
      .add(
        'GET',
        '/system/calls/:id',
        async ({ res, params, principal }) => {
          sendJson(res, 200, callView(await record(principal, 'read', params.id!), true));
        },
        { access: 'read', scope: 'own' },
      )
      .add(
        'POST',
        '/system/calls/:id/redrive',
        async ({ res, params, principal }) => {
          await record(principal, 'deploy', params.id!);
          sendJson(res, 200, callView(await system.redrive(params.id!), true));
        },
        { access: 'deploy', scope: 'own' },
      );
  };
}

/** A call record as the API shows it: ISO times, headers as an object, the body as text or base64. */
export function callView(c: CallRecord, withBody: boolean): Record<string, unknown> {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const view: Record<string, unknown> = {
    id: c.id,
    function: c.fn,
    source: c.source,
    status: c.status,
    attempts: c.attempts,
    errors: c.errors,
    redrives: c.redrives,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    startedAt: iso(c.startedAt),
    finishedAt: iso(c.finishedAt),
    nextAttemptAt: iso(c.nextAttemptAt),
    durationMs: c.durationMs === undefined ? undefined : Math.round(c.durationMs * 1000) / 1000,
  };
  if (c.callbackUrl !== undefined) {
    view.callback = {
      url: c.callbackUrl,
      state: c.callbackState,
      attempts: c.callbackAttempts,
      error: c.callbackError,
    };
  }
  if (c.response) {
    const headers: Record<string, string> = {};
    const flat = c.response.headers;
    for (let i = 0; i < flat.length; i += 2) {
      const key = flat[i]!.toLowerCase();
      headers[key] = headers[key] === undefined ? flat[i + 1]! : `${headers[key]}, ${flat[i + 1]}`;
    }
    const response: Record<string, unknown> = {
      status: c.response.status,
      headers,
      bodyBytes: c.response.bodyBytes,
    };
    if (withBody) {
      const body = c.response.body;
      if (isUtf8(body)) response.body = body.toString('utf8');
      else response.bodyBase64 = body.toString('base64');
      response.truncated = body.length < c.response.bodyBytes;
    }
    view.response = response;
  }
  if (c.error) view.error = c.error;
  return view;
}
