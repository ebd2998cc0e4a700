// /system/calls: call records (status, attempts, the stored response), dead letters and their redrive.
// Admin token required. Added to the control API as a route group.
import { isUtf8 } from 'node:buffer';
import { NimbusError } from '../errors.js';
import type { AsyncSystem } from '../queue/async-system.js';
import { CALL_STATUSES, type CallRecord, type CallStatus } from '../queue/calls.js';
import { sendJson } from './respond.js';
import type { Router } from './router.js';

export const DEFAULT_CALL_PAGE = 50;
export const MAX_CALL_PAGE = 1000;

export function callRoutes(system: AsyncSystem): (router: Router) => void {
  return (router) => {
    router
      .add(
        'GET',
        '/system/calls',
        async ({ res, url }) => {
          const fn = url.searchParams.get('function') ?? undefined;
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
        { access: 'read' },
      )
      .add(
        'POST',
        '/system/calls/redrive',
        async ({ res, url }) => {
          const fn = url.searchParams.get('function') ?? undefined;
          sendJson(res, 200, { redriven: await system.redriveAll(fn) });
        },
        { access: 'deploy' },
      )
      .add(
        'GET',
        '/system/calls/:id',
        async ({ res, params }) => {
          const record = await system.calls.get(params.id!);
          if (!record) throw new NimbusError('ERR_CALL_NOT_FOUND', [params.id!.slice(0, 80)]);
          sendJson(res, 200, callView(record, true));
        },
        { access: 'read' },
      )
      .add(
        'POST',
        '/system/calls/:id/redrive',
        async ({ res, params }) => {
          sendJson(res, 200, callView(await system.redrive(params.id!), true));
        },
        { access: 'deploy' },
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
