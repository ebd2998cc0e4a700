// The Apache OpenWhisk REST API (what the `openwhisk` npm client and `wsk` call), a translation onto the
// native core: actions are Nimbus functions (Deployer), invokes go through invokeBuffered or the async
// queue, alarms through cron, logs from the log store; activations, triggers, rules and sequences are kept
// in the OpenWhisk store. Routes under /api/v1/namespaces/{ns}/… and /api/v1/web/…, every answer and error
// in OpenWhisk's shape. One namespace today (`default`, `_` for the caller's own); no packages yet.
import type { IncomingMessage } from 'node:http';
import type { Authenticator } from '../../auth/authenticate.js';
import type { Deployer } from '../../dispatch/deployer.js';
import type { Dispatcher } from '../../dispatch/dispatcher.js';
import type { Namespaces } from '../../dispatch/namespaces.js';
import { NimbusError } from '../../errors.js';
import type { LogStore } from '../../logs/log-store.js';
import type { SubmitRequest } from '../../queue/async-system.js';
import type { SettledCall } from '../../queue/workers.js';
import type { Artifacts } from '../../store/artifacts.js';
import type { Store } from '../../store/store.js';
import type { CronClock, CronEvent, CronStateStore } from '../../triggers/cron.js';
import type { BodyBudget } from '../body-budget.js';
import type { Router } from '../router.js';
import { actionsApi, DEFAULT_BLOCKING_WAIT_MS, readParams } from './actions-api.js';
import { activationsApi } from './activations-api.js';
import { Alarms } from './alarms.js';
import { type CallDeps, owRoute } from './call.js';
import { Invoker } from './invoker.js';
import { OpenWhiskStore } from './ow-store.js';
import { sendOwJson } from './respond.js';
import { triggersApi } from './triggers-api.js';
import { webRoute } from './web-api.js';

/** Every method a web action answers. */
const WEB_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

export interface OpenWhiskApiDeps {
  /** The platform's SQLite file (the OpenWhisk store keeps its tables there). */
  file: string;
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  deployer: Deployer;
  logs: LogStore;
  auth: Authenticator;
  submit: (request: SubmitRequest) => Promise<string>;
  /** Subscribes to async calls reaching a final status (non-blocking activations are finished from them). */
  onSettled: (listener: (call: SettledCall) => void) => () => void;
  /** Cron state of the alarm schedules. */
  cronState: CronStateStore;
  /** The namespaces that exist, and their call-rate quota. */
  namespaces: Pick<Namespaces, 'get' | 'admitCall'>;
  /** Activation records are kept this long (the platform's callRetentionMs). */
  retentionMs: number;
  onInternalError: (error: NimbusError, req: IncomingMessage) => void;
  onEvent?: (event: CronEvent) => void;
  /** What request bodies read whole may take together (params, web actions). */
  bodies?: BodyBudget;
  /** A blocking invoke answers 202 after this long. Default 60 s. */
  blockingWaitMs?: number;
  now?: () => number;
  cronClock?: CronClock;
}

export class OpenWhiskApi {
  readonly store: OpenWhiskStore;
  readonly #deps: OpenWhiskApiDeps;
  readonly #invoker: Invoker;
  readonly #triggers: ReturnType<typeof triggersApi>;
  readonly #alarms: Alarms;
  readonly #now: () => number;
  #unsubscribe: (() => void) | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;

  constructor(deps: OpenWhiskApiDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.store = new OpenWhiskStore(deps.file);
    this.#invoker = new Invoker({
      store: deps.store,
      dispatcher: deps.dispatcher,
      logs: deps.logs,
      ow: this.store,
      submit: deps.submit,
      now: this.#now,
    });
    this.#triggers = triggersApi({
      ow: this.store,
      invoker: this.#invoker,
      now: this.#now,
      // A removed trigger's alarm goes with it.
      onTriggerRemoved: () => this.#alarms.refresh(),
    });
    this.#alarms = new Alarms({
      ow: this.store,
      state: deps.cronState,
      fire: (ns, trigger, payload) => this.#triggers.fire(ns, trigger, payload),
      now: this.#now,
      ...(deps.cronClock ? { clock: deps.cronClock } : {}),
      ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
    });
  }

  /** Starts finishing non-blocking activations, the alarm schedules and the retention sweep. */
  start(): void {
    this.#unsubscribe = this.#deps.onSettled((call) => this.#invoker.settled(call));
    this.#alarms.start();
    const sweepMs = Math.max(1000, Math.min(60_000, Math.floor(this.#deps.retentionMs / 10)));
    this.#purgeTimer = setInterval(() => {
      const now = this.#now();
      // A pending record whose call never settled (its function was removed) goes after twice the retention.
      this.store.purge(now - this.#deps.retentionMs, now - 2 * this.#deps.retentionMs);
    }, sweepMs);
    this.#purgeTimer.unref();
  }

  /** Stops the alarm schedules (at shutdown, with the async system's cron). */
  stop(): void {
    this.#alarms.close();
  }

  /** Closes the store (once requests and async calls are done). */
  close(): void {
    this.#unsubscribe?.();
    this.#alarms.close();
    clearInterval(this.#purgeTimer);
    this.#invoker.flush();
    this.store.close();
  }

  /** Registers the routes on the control API's router. */
  routes(router: Router): void {
    const deps = this.#deps;
    const callDeps: CallDeps = {
      auth: deps.auth,
      namespaces: deps.namespaces,
      onInternalError: deps.onInternalError,
      bodies: deps.bodies,
    };
    const route = (handler: Parameters<typeof owRoute>[1]) => owRoute(callDeps, handler);
    const open = { access: 'public', compat: 'openwhisk' } as const;
    const actions = actionsApi({
      store: deps.store,
      artifacts: deps.artifacts,
      deployer: deps.deployer,
      logs: deps.logs,
      ow: this.store,
      invoker: this.#invoker,
      namespaces: deps.namespaces,
      blockingWaitMs: deps.blockingWaitMs ?? DEFAULT_BLOCKING_WAIT_MS,
      now: this.#now,
    });
    const activations = activationsApi(this.store);
    const triggers = this.#triggers;
    const ns = '/api/v1/namespaces/:ns';
    const notFound = route(({ req }) => {
      throw new NimbusError('ERR_OPENWHISK_NOT_FOUND', [
        'resource',
        (req.url ?? '').slice(0, 120),
        'actions',
      ]);
    });
    const packages = route(({ params }) => {
      throw new NimbusError('ERR_OPENWHISK_PACKAGES_UNSUPPORTED', [
        `package path ${String(params['*']).slice(0, 80)}`,
      ]);
    });
    // GET /api/v1/namespaces is Nimbus's own list of namespaces (namespaces-api.ts).
    router
      .add('GET', `${ns}/actions`, route(actions.list), open)
      .add('GET', `${ns}/actions/:name`, route(actions.get), open)
      .add('PUT', `${ns}/actions/:name`, route(actions.put), open)
      .add('DELETE', `${ns}/actions/:name`, route(actions.remove), open)
      .add('POST', `${ns}/actions/:name`, route(actions.invoke), open)
      .add(
        'POST',
        '/api/v1/namespaces/whisk.system/actions/alarms/:feed',
        route(async (call) => this.#alarms.handle(call, call.params.feed!, await readParams(call))),
        open,
      )
      .add('GET', `${ns}/activations`, route(activations.list), open)
      .add('GET', `${ns}/activations/:id`, route(activations.get), open)
      .add('GET', `${ns}/activations/:id/logs`, route(activations.logs), open)
      .add('GET', `${ns}/activations/:id/result`, route(activations.result), open)
      .add('GET', `${ns}/triggers`, route(triggers.listTriggers), open)
      .add('GET', `${ns}/triggers/:name`, route(triggers.getTrigger), open)
      .add('PUT', `${ns}/triggers/:name`, route(triggers.putTrigger), open)
      .add('DELETE', `${ns}/triggers/:name`, route(triggers.deleteTrigger), open)
      .add('POST', `${ns}/triggers/:name`, route(triggers.fireTrigger), open)
      .add('GET', `${ns}/rules`, route(triggers.listRules), open)
      .add('GET', `${ns}/rules/:name`, route(triggers.getRule), open)
      .add('PUT', `${ns}/rules/:name`, route(triggers.putRule), open)
      .add('POST', `${ns}/rules/:name`, route(triggers.setRuleStatus), open)
      .add('DELETE', `${ns}/rules/:name`, route(triggers.deleteRule), open)
      .add(
        'GET',
        `${ns}/packages`,
        route(({ res }) => sendOwJson(res, 200, [])),
        open,
      );
    for (const method of ['GET', 'PUT', 'POST', 'DELETE'] as const) {
      // An action, trigger or rule name with a `/` in it names a package.
      router.add(method, `${ns}/actions/*`, packages, open);
      router.add(method, `${ns}/packages/*`, packages, open);
      router.add(method, '/api/v1/namespaces/*', notFound, open);
    }
    const web = webRoute({
      auth: deps.auth,
      invoker: this.#invoker,
      namespaces: deps.namespaces,
      onInternalError: deps.onInternalError,
      bodies: deps.bodies,
    });
    for (const method of WEB_METHODS) {
      router.add(method, '/api/v1/web/:ns/:pkg/:action', web, open);
      router.add(method, '/api/v1/web/:ns/:pkg/:action/*', web, open);
    }
  }
}
