// The dashboard's JSON view of the call activity (activity.ts): a summary per function for lists, and one
// function's 10-second buckets and recent calls. What /metrics gives Prometheus, shaped for a browser.
import { namespaceParam, splitFunctionId } from '../config/namespace.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { NimbusError } from '../errors.js';
import { namedFunction, sees } from '../gateway/functions-api.js';
import { sendJson } from '../gateway/respond.js';
import type { RequestTarget, Router } from '../gateway/router.js';
import type { Store } from '../store/store.js';
import { BUCKET_MS, BUCKETS, FunctionActivity, RECENT_CALLS } from './activity.js';

export interface ActivityDeps {
  store: Store;
  dispatcher: Dispatcher;
}

const NONE = new FunctionActivity();

/** The window of the list's summary unless `?window=` (seconds) says otherwise: five minutes. */
export const DEFAULT_SUMMARY_SECONDS = 300;

export function activityRoutes({ store, dispatcher }: ActivityDeps): (router: Router) => void {
  // A function whose pool was never made (it failed to restore) has no activity: it reads as none.
  const activityOf = (id: string): FunctionActivity => dispatcher.activity.get(id) ?? NONE;
  return (router) => {
    router
      .add(
        'GET',
        '/api/v1/activity',
        ({ res, url, principal }) => {
          const seconds = intParam(
            url,
            'window',
            DEFAULT_SUMMARY_SECONDS,
            BUCKET_MS / 1000,
            (BUCKETS * BUCKET_MS) / 1000,
          );
          const buckets = Math.ceil((seconds * 1000) / BUCKET_MS);
          const asked = url.searchParams.get('namespace');
          const namespace = asked === '*' ? undefined : namespaceParam(asked);
          const functions = store
            .listFunctions()
            .filter((fn) => sees(principal, fn.name))
            .filter((fn) => namespace === undefined || splitFunctionId(fn.name).namespace === namespace)
            .map((fn) => {
              const summary = activityOf(fn.name).summary(buckets);
              return { ...splitFunctionId(fn.name), ...summary };
            });
          sendJson(res, 200, { bucketMs: BUCKET_MS, windowSeconds: buckets * (BUCKET_MS / 1000), functions });
        },
        { access: 'read' },
      )
      .add(
        'GET',
        '/api/v1/functions/:name/activity',
        ({ res, params, url, principal }) => {
          const { id, name, namespace } = namedFunction(principal, 'read', params.name!, url);
          if (!store.getFunction(id)) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
          const minutes = intParam(
            url,
            'minutes',
            (BUCKETS * BUCKET_MS) / 60_000,
            1,
            (BUCKETS * BUCKET_MS) / 60_000,
          );
          const recent = intParam(url, 'recent', 50, 0, RECENT_CALLS);
          const activity = activityOf(id);
          const buckets = Math.ceil((minutes * 60_000) / BUCKET_MS);
          sendJson(res, 200, {
            name,
            namespace,
            series: activity.series(buckets),
            recent: activity.recent(recent),
          });
        },
        { access: 'read' },
      );
  };
}

/** A whole-number query parameter within [min, max]; ERR_REQUEST_INVALID otherwise. */
function intParam(url: RequestTarget, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new NimbusError('ERR_REQUEST_INVALID', [`"${name}" must be a whole number from ${min} to ${max}`]);
  return value;
}
