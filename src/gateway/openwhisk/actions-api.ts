// /api/v1/namespaces/{ns}/actions: create or update (PUT, ?overwrite=true), get, list, delete and invoke
// (POST, ?blocking=true[&result=true]). Actions are Nimbus functions, deployed by the Deployer; sequences
// are kept by the OpenWhisk store and run by the Invoker.
import { assertFunctionName } from '../../config/function-spec.js';
import { functionId, splitFunctionId } from '../../config/namespace.js';
import type { Deployer } from '../../dispatch/deployer.js';
import type { Namespaces } from '../../dispatch/namespaces.js';
import { NimbusError } from '../../errors.js';
import type { LogStore } from '../../logs/log-store.js';
import { callerTraceHeaders } from '../../observability/trace-context.js';
import { newCallId } from '../../queue/call-id.js';
import type { Artifacts } from '../../store/artifacts.js';
import type { Store } from '../../store/store.js';
import { parseClientJson } from '../client-json.js';
import { KINDS, readActionCode, storeActionCode } from './action-code.js';
import {
  ANNOTATION,
  actionPutSchema,
  actionSettings,
  actionSpec,
  actionView,
  OW_DEFAULT_LOGS_MB,
  OW_DEFAULT_MEMORY_MB,
  OW_DEFAULT_TIMEOUT_MS,
  PARAMETERS_LIMIT_BYTES,
  sequenceView,
} from './action-model.js';
import { activationView, resultView } from './activation.js';
import { flag, need, type OwCall, paging, readBody, readJsonBody } from './call.js';
import { componentName, type Invoker } from './invoker.js';
import type { Activation, OpenWhiskStore } from './ow-store.js';
import { ACTIVATION_ID_HEADER, sendOwJson } from './respond.js';

/** A PUT's body: code of up to 48 MB, as OpenWhisk allows, base64 in JSON. */
export const ACTION_BODY_LIMIT_BYTES = 64 * 1024 * 1024;
/** A blocking invoke waits this long, then answers 202 with the activation id (OpenWhisk's 60 s). */
export const DEFAULT_BLOCKING_WAIT_MS = 60_000;

export interface ActionsDeps {
  store: Store;
  artifacts: Artifacts;
  deployer: Deployer;
  logs: LogStore;
  ow: OpenWhiskStore;
  invoker: Invoker;
  namespaces: Pick<Namespaces, 'admitCall'>;
  blockingWaitMs: number;
  now: () => number;
}

/** Reads an invocation's params: a JSON object of at most the payload limit. */
export async function readParams(call: OwCall): Promise<Record<string, unknown>> {
  const body = await readBody(call.req, PARAMETERS_LIMIT_BYTES, call.bodies?.hold(call.res));
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = parseClientJson(body.toString('utf8'));
  } catch (err) {
    throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [
      `the params are not JSON: ${(err as Error).message}`,
    ]);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', ['the params must be a JSON object']);
  return value as Record<string, unknown>;
}

function checkParametersSize(value: unknown): void {
  if (value !== undefined && Buffer.byteLength(JSON.stringify(value)) > PARAMETERS_LIMIT_BYTES)
    throw new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [PARAMETERS_LIMIT_BYTES]);
}

export function actionsApi(deps: ActionsDeps) {
  const { store, ow, invoker } = deps;

  const notFound = (name: string) =>
    new NimbusError('ERR_OPENWHISK_NOT_FOUND', ['action', name.slice(0, 80), 'actions']);

  const put = async (call: OwCall): Promise<void> => {
    const name = call.params.name!;
    assertFunctionName(name);
    need(call, 'deploy', name);
    const body = await readJsonBody(call.req, ACTION_BODY_LIMIT_BYTES, actionPutSchema);
    checkParametersSize(body.parameters);
    checkParametersSize(body.annotations);
    const id = functionId(call.namespace, name);
    const fn = store.getFunction(id);
    const seq = ow.getEntity(call.namespace, 'sequence', name);
    if ((fn || seq) && !flag(call.url, 'overwrite'))
      throw new NimbusError('ERR_OPENWHISK_ENTITY_EXISTS', ['action', name]);
    const exec = body.exec;
    if (exec?.kind === 'sequence' || (!exec && seq)) {
      const components = exec?.components ?? seq?.doc.components;
      if (!components)
        throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', ['a sequence needs exec.components']);
      for (const component of components) {
        const target = componentName(component, call.namespace);
        if (target === name)
          throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [`sequence ${name} may not contain itself`]);
        if (target === undefined || !invoker.resolve(call.namespace, target))
          throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [
            `Sequence component does not exist: ${component.slice(0, 200)}`,
          ]);
      }
      const previous = seq?.doc;
      const entity = {
        namespace: call.namespace,
        name,
        updated: deps.now(),
        doc: {
          components,
          parameters: body.parameters ?? previous?.parameters ?? [],
          annotations: body.annotations ?? previous?.annotations ?? [],
          limits: {
            timeout: body.limits?.timeout ?? previous?.limits.timeout ?? OW_DEFAULT_TIMEOUT_MS,
            memory: body.limits?.memory ?? previous?.limits.memory ?? OW_DEFAULT_MEMORY_MB,
            logs: body.limits?.logs ?? previous?.limits.logs ?? OW_DEFAULT_LOGS_MB,
            concurrency: body.limits?.concurrency ?? previous?.limits.concurrency ?? 1,
          },
          version: (previous?.version ?? 0) + 1,
        },
      };
      ow.putEntity('sequence', entity);
      // A sequence replaces a function of that name (the caller asked to overwrite it).
      if (fn) await deps.deployer.remove(id);
      sendOwJson(call.res, 200, sequenceView(entity, { full: true }));
      return;
    }
    if (exec && !(exec.kind in KINDS))
      throw new NimbusError('ERR_OPENWHISK_KIND_UNSUPPORTED', [exec.kind.slice(0, 60)]);
    if (exec && exec.code === undefined)
      throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [`exec.code is required for kind ${exec.kind}`]);
    if (!exec && !fn)
      throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', ['exec is required to create an action']);
    const code = exec ? await storeActionCode(deps.artifacts, { ...exec, code: exec.code! }) : undefined;
    const spec = actionSpec(body, code, fn);
    const bundle = code?.bundle ?? fn!.bundle;
    const entry = code ? code.entry : fn!.entry;
    await deps.deployer.deploy({
      name,
      namespace: call.namespace,
      bundle,
      spec,
      ...(entry ? { entry } : {}),
    });
    if (seq) ow.deleteEntity(call.namespace, 'sequence', name);
    const updated = store.getFunction(id)!;
    sendOwJson(call.res, 200, actionView(updated, call.namespace, { full: true, code: codeOf(updated) }));
  };

  /**
   * The code string of an action made from one through this API (not a zip's, whose files are in the
   * bundle, nor the bundle `nimbus deploy` built).
   */
  const codeOf = (fn: NonNullable<ReturnType<Store['getFunction']>>): string | undefined =>
    fn.spec.annotations?.[ANNOTATION.kind] === undefined || actionSettings(fn).binary
      ? undefined
      : readActionCode(deps.artifacts.path(fn.bundle), fn.spec.runtime);

  const get = (call: OwCall): void => {
    const name = call.params.name!;
    need(call, 'read', name);
    const target = invoker.resolve(call.namespace, name);
    if (!target) throw notFound(name);
    const withCode = call.url.searchParams.get('code') !== 'false';
    const view =
      target.type === 'sequence'
        ? sequenceView(target.entity, { full: true })
        : actionView(target.fn, call.namespace, {
            full: true,
            code: withCode ? codeOf(target.fn) : undefined,
          });
    sendOwJson(call.res, 200, view);
  };

  const list = (call: OwCall): void => {
    need(call, 'read');
    const { skip, limit, count } = paging(call.url);
    const all = [
      ...store
        .listFunctions()
        .map((fn) => ({ fn, ...splitFunctionId(fn.name) }))
        .filter((f) => f.namespace === call.namespace && allowsRead(call, f.name))
        .map(({ fn, name }) => ({
          updated: fn.createdAt,
          name,
          view: () => actionView(fn, call.namespace, { full: false }),
        })),
      ...ow
        .listEntities(call.namespace, 'sequence')
        .filter((e) => allowsRead(call, e.name))
        .map((e) => ({ updated: e.updated, name: e.name, view: () => sequenceView(e, { full: false }) })),
    ].sort((a, b) => b.updated - a.updated || a.name.localeCompare(b.name));
    if (count) {
      sendOwJson(call.res, 200, { actions: all.length });
      return;
    }
    sendOwJson(
      call.res,
      200,
      all.slice(skip, skip + limit).map((a) => a.view()),
    );
  };

  const remove = async (call: OwCall): Promise<void> => {
    const name = call.params.name!;
    need(call, 'deploy', name);
    const target = invoker.resolve(call.namespace, name);
    if (!target) throw notFound(name);
    if (target.type === 'sequence') {
      ow.deleteEntity(call.namespace, 'sequence', name);
      sendOwJson(call.res, 200, sequenceView(target.entity, { full: true }));
      return;
    }
    const view = actionView(target.fn, call.namespace, { full: true });
    await deps.deployer.remove(target.fn.name);
    deps.logs.forget(target.fn.name);
    sendOwJson(call.res, 200, view);
  };

  const invoke = async (call: OwCall): Promise<void> => {
    const name = call.params.name!;
    need(call, 'invoke', name);
    const payload = await readParams(call);
    const target = invoker.resolve(call.namespace, name);
    if (!target) throw notFound(name);
    // The namespace's call-rate quota, as on /function/NAME.
    const limited = deps.namespaces.admitCall(call.namespace);
    if (limited) throw limited;
    if (!flag(call.url, 'blocking')) {
      const activationId = await invoker.start(call.namespace, target, payload, {
        trace: callerTraceHeaders(call.req.headers),
      });
      sendOwJson(call.res, 202, { activationId }, { [ACTIVATION_ID_HEADER]: activationId });
      return;
    }
    const activationId = newCallId(deps.now());
    const headers = { [ACTIVATION_ID_HEADER]: activationId };
    const run = invoker.run(call.namespace, target, payload, {
      activationId,
      trace: callerTraceHeaders(call.req.headers),
    });
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), deps.blockingWaitMs);
    });
    // The run goes on past the wait: its record is written when it ends.
    run.catch(() => {});
    let activation: Activation | undefined;
    try {
      activation = await Promise.race([run, waited]);
    } finally {
      clearTimeout(timer);
    }
    if (!activation) {
      sendOwJson(call.res, 202, { activationId }, headers);
      return;
    }
    const status = activation.response.statusCode === 0 ? 200 : 502;
    if (flag(call.url, 'result')) {
      sendOwJson(call.res, status, activation.response.result, headers);
      return;
    }
    sendOwJson(call.res, status, activationView(activation, true), headers);
  };

  return { put, get, list, remove, invoke, resultView };
}

function allowsRead(call: OwCall, fn: string): boolean {
  const p = call.principal;
  return p.functions === '*' || p.functions.includes(fn);
}
