// Running actions the OpenWhisk way on the native core: a blocking call goes through invokeBuffered as a raw
// call (the body is the params, default parameters merged under them) and leaves an activation record
// with the call's log lines; a non-blocking one is queued on the async queue (the call id is the
// activation id) and its record is written when the call settles; sequences chain their components.
import { functionId, splitFunctionId } from '../../config/namespace.js';
import type { Dispatcher } from '../../dispatch/dispatcher.js';
import { type BufferedResponse, invokeBuffered } from '../../dispatch/invoke.js';
import { NimbusError } from '../../errors.js';
import type { LogStore } from '../../logs/log-store.js';
import type { SubmitRequest } from '../../queue/async-system.js';
import { newCallId } from '../../queue/call-id.js';
import type { SettledCall } from '../../queue/workers.js';
import { DEADLINE_HEADER } from '../../runtimes/node/openwhisk-style.js';
import type { FunctionRecord, Store } from '../../store/store.js';
import { actionSettings, semver, toObject } from './action-model.js';
import { activationOf, isRefusal, logLine } from './activation.js';
import type { Activation, Entity, KeyValues, OpenWhiskStore, SequenceDoc } from './ow-store.js';

/** An action's result (its JSON) may be at most this large (OpenWhisk's default limit). */
export const RESULT_LIMIT_BYTES = 1024 * 1024;
/** Components a sequence may run, nested ones counted (OpenWhisk's default). */
export const MAX_SEQUENCE_STEPS = 50;

/** What an action name resolves to: a Nimbus function or a sequence of actions. */
export type Resolved =
  | { type: 'function'; fn: FunctionRecord }
  | { type: 'sequence'; entity: Entity<'sequence'> };

export interface InvokerDeps {
  store: Store;
  dispatcher: Dispatcher;
  logs: LogStore;
  ow: OpenWhiskStore;
  submit: (request: SubmitRequest) => Promise<string>;
  now?: () => number;
}

export interface RunOptions {
  /** The activation id to use (the caller may answer with it before the run ends). */
  activationId?: string;
  /** The activation that caused this one (a sequence's, a trigger's). */
  cause?: string;
  extraAnnotations?: KeyValues;
  /** The caller's trace context (observability/trace-context.ts, callerTraceHeaders): the run continues it. */
  trace?: [string, string][];
}

export class Invoker {
  readonly #deps: InvokerDeps;
  readonly #now: () => number;
  /** Settled calls whose records wait for the next turn of the event loop. */
  readonly #settling = new Map<NodeJS.Immediate, () => void>();

  constructor(deps: InvokerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** The action `name` of `namespace` names, if any. */
  resolve(namespace: string, name: string): Resolved | undefined {
    const seq = this.#deps.ow.getEntity(namespace, 'sequence', name);
    if (seq) return { type: 'sequence', entity: seq };
    const fn = this.#deps.store.getFunction(functionId(namespace, name));
    return fn ? { type: 'function', fn } : undefined;
  }

  /** Runs an action and waits for it; the activation is stored. Refusals (queue full, …) throw. */
  async run(
    namespace: string,
    target: Resolved,
    payload: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<Activation> {
    if (target.type === 'sequence')
      return this.#runSequence(namespace, target.entity, payload, options, { steps: 0 });
    return this.#runFunction(namespace, target.fn, payload, options);
  }

  /** Starts an action without waiting; resolves with its activation id once the call is queued. */
  async start(
    namespace: string,
    target: Resolved,
    payload: Record<string, unknown>,
    options: RunOptions = {},
  ): Promise<string> {
    if (target.type === 'sequence') {
      // A sequence is a chain of calls Nimbus runs itself: it runs now, in this process (not durable).
      const activationId = options.activationId ?? newCallId(this.#now());
      const pending = this.#pendingRecord(
        activationId,
        namespace,
        target.entity.name,
        target.entity.doc.version,
      );
      this.#deps.ow.putPending(pending);
      void this.run(namespace, target, payload, { ...options, activationId }).catch((err: unknown) => {
        // The run failed outside its components (the store): the record says so rather than stay pending.
        const error = err instanceof NimbusError ? err.message : String(err);
        this.#deps.ow.putActivation({
          ...pending,
          end: this.#now(),
          response: { statusCode: 3, result: { error } },
        });
      });
      return activationId;
    }
    const fn = target.fn;
    const params = { ...toObject(actionSettings(fn).parameters), ...payload };
    const activationId = await this.#deps.submit({
      fn: fn.name,
      method: 'POST',
      path: '/',
      headers: [['content-type', 'application/json'], ...(options.trace ?? [])],
      body: Buffer.from(JSON.stringify(params)),
      source: 'http',
      rawEvent: true,
    });
    // Written before the worker can take the call: it is taken on a later turn of the event loop.
    const record = this.#pendingRecord(activationId, namespace, splitFunctionId(fn.name).name, fn.version);
    if (options.cause) record.cause = options.cause;
    if (options.extraAnnotations) record.annotations = options.extraAnnotations;
    this.#deps.ow.putPending(record);
    return activationId;
  }

  /** An async call settled: the pending activation it was becomes a record (others are not ours). */
  settled(call: SettledCall): void {
    const pending = this.#deps.ow.pending(call.id);
    if (!pending) return;
    // Lines written before the answer arrive on the instance's pipe within a turn of the event loop; a
    // record still waiting for that turn when the API closes is written then (flush), never lost.
    const record = (): void => {
      const fn = this.#deps.store.getFunction(call.fn);
      const attempt = call.attempt;
      const response: BufferedResponse | { status: number; body: Buffer; error: NimbusError } = attempt
        ? attempt.response
        : {
            status: 500,
            body: Buffer.alloc(0),
            error: new NimbusError('ERR_INTERNAL', [call.error?.message ?? call.status]),
          };
      const logs =
        attempt?.response.instanceId === undefined
          ? []
          : this.#deps.logs
              .query(call.fn, { instance: attempt.response.instanceId, sinceMs: attempt.startedAt })
              .map(logLine);
      const settings = fn ? actionSettings(fn) : undefined;
      this.#deps.ow.putActivation(
        activationOf({
          activationId: call.id,
          namespace: pending.namespace,
          name: pending.name,
          version: pending.version,
          kind: settings?.kind ?? 'unknown',
          limits: settings?.limits ?? {},
          start: attempt?.startedAt ?? pending.start,
          end: attempt?.finishedAt ?? this.#now(),
          waitMs: attempt ? attempt.startedAt - pending.start + attempt.response.waitMs : 0,
          response,
          timeoutMs: fn?.spec.timeoutMs ?? 0,
          logs,
          cause: pending.cause,
          extraAnnotations: pending.annotations,
        }),
      );
    };
    const turn = setImmediate(() => {
      this.#settling.delete(turn);
      record();
    });
    this.#settling.set(turn, record);
  }

  /** Writes the records of settled calls still waiting for their turn (before the stores close). */
  flush(): void {
    const waiting = [...this.#settling];
    this.#settling.clear();
    for (const [turn, record] of waiting) {
      clearImmediate(turn);
      record();
    }
  }

  #pendingRecord(activationId: string, namespace: string, name: string, version: number): Activation {
    return {
      activationId,
      namespace,
      name,
      start: this.#now(),
      end: 0,
      response: { statusCode: 0, result: {} },
      logs: [],
      annotations: [],
      version: semver(version),
    };
  }

  async #runFunction(
    namespace: string,
    fn: FunctionRecord,
    payload: Record<string, unknown>,
    options: RunOptions,
  ): Promise<Activation> {
    const activationId = options.activationId ?? newCallId(this.#now());
    const settings = actionSettings(fn);
    const params = { ...toObject(settings.parameters), ...payload };
    const start = this.#now();
    const startSeq = this.#deps.logs.seq;
    const res = await invokeBuffered(
      this.#deps.dispatcher,
      fn.name,
      {
        method: 'POST',
        path: '/',
        headers: [
          ['content-type', 'application/json'],
          ['x-call-id', activationId],
          [DEADLINE_HEADER, String(start + fn.spec.timeoutMs)],
          ...(options.trace ?? []),
        ],
        body: Buffer.from(JSON.stringify(params)),
        rawEvent: true,
      },
      { maxResponseBytes: RESULT_LIMIT_BYTES },
    );
    const end = this.#now();
    if (isRefusal(res.error)) throw res.error;
    await new Promise((resolve) => setImmediate(resolve));
    const logs =
      res.instanceId === undefined
        ? []
        : this.#deps.logs.query(fn.name, { afterSeq: startSeq, instance: res.instanceId }).map(logLine);
    const activation = activationOf({
      activationId,
      namespace,
      name: splitFunctionId(fn.name).name,
      version: semver(fn.version),
      kind: settings.kind,
      limits: settings.limits,
      start,
      end,
      waitMs: res.waitMs,
      response: res,
      timeoutMs: fn.spec.timeoutMs,
      logs,
      cause: options.cause,
      extraAnnotations: options.extraAnnotations,
    });
    this.#deps.ow.putActivation(activation);
    return activation;
  }

  async #runSequence(
    namespace: string,
    seq: Entity<'sequence'>,
    payload: Record<string, unknown>,
    options: RunOptions,
    budget: { steps: number },
  ): Promise<Activation> {
    const activationId = options.activationId ?? newCallId(this.#now());
    const start = this.#now();
    const doc: SequenceDoc = seq.doc;
    let params: Record<string, unknown> = { ...toObject(doc.parameters), ...payload };
    const componentIds: string[] = [];
    let last: Activation | undefined;
    let failure: { statusCode: 1 | 2 | 3; error: string } | undefined;
    for (const component of doc.components) {
      if (++budget.steps > MAX_SEQUENCE_STEPS) {
        failure = {
          statusCode: 2,
          error: `Sequence is too long: more than ${MAX_SEQUENCE_STEPS} actions run`,
        };
        break;
      }
      const name = componentName(component, namespace);
      const target = name === undefined ? undefined : this.resolve(namespace, name);
      if (!target) {
        failure = { statusCode: 2, error: `Sequence component does not exist: ${component}` };
        break;
      }
      const childOptions: RunOptions = {
        cause: activationId,
        extraAnnotations: [{ key: 'causedBy', value: 'sequence' }],
        ...(options.trace ? { trace: options.trace } : {}),
      };
      let child: Activation;
      try {
        child =
          target.type === 'sequence'
            ? await this.#runSequence(namespace, target.entity, params, childOptions, budget)
            : await this.#runFunction(namespace, target.fn, params, childOptions);
      } catch (err) {
        const error = err instanceof NimbusError ? err.message : String(err);
        failure = { statusCode: 3, error };
        break;
      }
      componentIds.push(child.activationId);
      last = child;
      if (child.response.statusCode !== 0) break;
      params = child.response.result as Record<string, unknown>;
    }
    const response = failure
      ? { statusCode: failure.statusCode, result: { error: failure.error } }
      : (last?.response ?? { statusCode: 0 as const, result: params });
    const activation: Activation = {
      activationId,
      namespace,
      name: seq.name,
      start,
      end: this.#now(),
      response,
      logs: componentIds,
      annotations: [
        { key: 'topmost', value: options.cause === undefined },
        { key: 'path', value: `${namespace}/${seq.name}` },
        { key: 'kind', value: 'sequence' },
        { key: 'limits', value: doc.limits },
        ...(options.extraAnnotations ?? []),
      ],
      version: semver(doc.version),
      ...(options.cause ? { cause: options.cause } : {}),
    };
    this.#deps.ow.putActivation(activation);
    return activation;
  }
}

/** The action a sequence component names (`/ns/name`, `/_/name`, `name`), in the sequence's namespace. */
export function componentName(component: string, namespace: string): string | undefined {
  const parts = component.split('/').filter((p) => p !== '');
  if (parts.length === 1) return parts[0];
  if (parts.length === 2 && (parts[0] === '_' || parts[0] === namespace)) return parts[1];
  return undefined;
}
