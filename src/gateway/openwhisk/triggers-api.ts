// /api/v1/namespaces/{ns}/triggers and /rules: triggers with default parameters, fired by POST (or by an
// alarm feed), and rules binding a trigger to an action (active or inactive). A fire queues each active
// rule's action as a non-blocking invoke and leaves a trigger activation whose logs name them.
import { z } from 'zod';
import { assertFunctionName } from '../../config/function-spec.js';
import { NimbusError } from '../../errors.js';
import { newCallId } from '../../queue/call-id.js';
import { semver, toObject } from './action-model.js';
import { readParams } from './actions-api.js';
import { flag, need, type OwCall, paging, readJsonBody } from './call.js';
import { componentName, type Invoker } from './invoker.js';
import { type Entity, keyValuesSchema, type OpenWhiskStore } from './ow-store.js';
import { ACTIVATION_ID_HEADER, sendOwJson } from './respond.js';

const TRIGGER_BODY_LIMIT_BYTES = 1024 * 1024 + 64 * 1024;

const triggerPutSchema = z.object({
  parameters: keyValuesSchema.optional(),
  annotations: keyValuesSchema.optional(),
});

const rulePutSchema = z.object({
  trigger: z.string().min(1).max(512).optional(),
  action: z.string().min(1).max(512).optional(),
  status: z.enum(['active', 'inactive']).optional(),
  annotations: keyValuesSchema.optional(),
});

const ruleStatusSchema = z.object({ status: z.enum(['active', 'inactive']) });

export interface TriggersDeps {
  ow: OpenWhiskStore;
  invoker: Invoker;
  now: () => number;
  /** Called after a trigger is removed (its alarm goes with it). */
  onTriggerRemoved: (namespace: string, name: string) => void;
}

export function triggerView(t: Entity<'trigger'>, rules: Entity<'rule'>[]): Record<string, unknown> {
  const bound: Record<string, unknown> = {};
  for (const r of rules.filter((r) => r.doc.trigger === t.name))
    bound[`${r.namespace}/${r.name}`] = {
      action: { name: r.doc.action, path: r.namespace },
      status: r.doc.status,
    };
  const annotations = t.doc.annotations.filter((kv) => kv.key !== 'feed');
  if (t.doc.feed) annotations.push({ key: 'feed', value: t.doc.feed.name });
  return {
    namespace: t.namespace,
    name: t.name,
    version: semver(t.doc.version),
    publish: false,
    parameters: t.doc.parameters,
    annotations,
    limits: {},
    rules: bound,
    updated: t.updated,
  };
}

export function ruleView(r: Entity<'rule'>): Record<string, unknown> {
  return {
    namespace: r.namespace,
    name: r.name,
    version: semver(r.doc.version),
    publish: false,
    status: r.doc.status,
    trigger: { namespace: r.namespace, name: r.doc.trigger },
    action: { namespace: r.namespace, name: r.doc.action },
    annotations: r.doc.annotations,
    updated: r.updated,
  };
}

export function triggersApi(deps: TriggersDeps) {
  const { ow, invoker } = deps;
  const notFound = (kind: 'trigger' | 'rule', name: string) =>
    new NimbusError('ERR_OPENWHISK_NOT_FOUND', [kind, name.slice(0, 80), `${kind}s`]);

  const getTrigger = (call: OwCall) => {
    const t = ow.getEntity(call.namespace, 'trigger', call.params.name!);
    if (!t) throw notFound('trigger', call.params.name!);
    return t;
  };

  const getRule = (call: OwCall) => {
    const r = ow.getEntity(call.namespace, 'rule', call.params.name!);
    if (!r) throw notFound('rule', call.params.name!);
    return r;
  };

  /**
   * Fires a trigger: each active rule's action is queued with the trigger's parameters under the payload.
   * Undefined when no rule is active (nothing runs, as OpenWhisk answers 204). `principal` checks are the
   * caller's; an alarm fires without one.
   */
  async function fire(
    namespace: string,
    trigger: Entity<'trigger'>,
    payload: Record<string, unknown>,
    mayInvoke: (action: string) => boolean = () => true,
  ): Promise<string | undefined> {
    const rules = ow
      .listEntities(namespace, 'rule')
      .filter((r) => r.doc.trigger === trigger.name && r.doc.status === 'active');
    if (rules.length === 0) return undefined;
    for (const rule of rules) {
      if (!mayInvoke(rule.doc.action))
        throw new NimbusError('ERR_FUNCTION_FORBIDDEN', ['the caller', rule.doc.action]);
    }
    const activationId = newCallId(deps.now());
    const params = { ...toObject(trigger.doc.parameters), ...payload };
    const logs: string[] = [];
    for (const rule of rules) {
      const about = { rule: `${namespace}/${rule.name}`, action: `${namespace}/${rule.doc.action}` };
      const target = invoker.resolve(namespace, rule.doc.action);
      if (!target) {
        logs.push(
          JSON.stringify({
            statusCode: 1,
            success: false,
            error: 'The requested resource does not exist.',
            ...about,
          }),
        );
        continue;
      }
      try {
        const id = await invoker.start(namespace, target, params, { cause: activationId });
        logs.push(JSON.stringify({ statusCode: 0, success: true, activationId: id, ...about }));
      } catch (err) {
        const error = err instanceof NimbusError ? err.message : String(err);
        logs.push(JSON.stringify({ statusCode: 3, success: false, error, ...about }));
      }
    }
    const now = deps.now();
    ow.putActivation({
      activationId,
      namespace,
      name: trigger.name,
      start: now,
      end: now,
      response: { statusCode: 0, result: params },
      logs,
      annotations: [{ key: 'path', value: `${namespace}/${trigger.name}` }],
      version: semver(trigger.doc.version),
    });
    return activationId;
  }

  const putTrigger = async (call: OwCall): Promise<void> => {
    const name = call.params.name!;
    assertFunctionName(name);
    need(call, 'deploy');
    const body = await readJsonBody(call.req, TRIGGER_BODY_LIMIT_BYTES, triggerPutSchema);
    const existing = ow.getEntity(call.namespace, 'trigger', name);
    if (existing && !flag(call.url, 'overwrite'))
      throw new NimbusError('ERR_OPENWHISK_ENTITY_EXISTS', ['trigger', name]);
    const entity: Entity<'trigger'> = {
      namespace: call.namespace,
      name,
      updated: deps.now(),
      doc: {
        parameters: body.parameters ?? existing?.doc.parameters ?? [],
        annotations: body.annotations ?? existing?.doc.annotations ?? [],
        ...(existing?.doc.feed ? { feed: existing.doc.feed } : {}),
        version: (existing?.doc.version ?? 0) + 1,
      },
    };
    ow.putEntity('trigger', entity);
    sendOwJson(call.res, 200, triggerView(entity, ow.listEntities(call.namespace, 'rule')));
  };

  const putRule = async (call: OwCall): Promise<void> => {
    const name = call.params.name!;
    assertFunctionName(name);
    need(call, 'deploy');
    const body = await readJsonBody(call.req, TRIGGER_BODY_LIMIT_BYTES, rulePutSchema);
    const existing = ow.getEntity(call.namespace, 'rule', name);
    if (existing && !flag(call.url, 'overwrite'))
      throw new NimbusError('ERR_OPENWHISK_ENTITY_EXISTS', ['rule', name]);
    const local = (value: string | undefined, what: 'trigger' | 'action'): string => {
      if (value === undefined) {
        if (existing) return existing.doc[what];
        throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [`a rule needs "${what}"`]);
      }
      const n = componentName(value, call.namespace);
      if (n === undefined)
        throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [
          `${what} "${value.slice(0, 200)}" is not in namespace ${call.namespace} (packages are not supported)`,
        ]);
      return n;
    };
    const trigger = local(body.trigger, 'trigger');
    const action = local(body.action, 'action');
    if (!ow.getEntity(call.namespace, 'trigger', trigger)) throw notFound('trigger', trigger);
    if (!invoker.resolve(call.namespace, action))
      throw new NimbusError('ERR_OPENWHISK_NOT_FOUND', ['action', action.slice(0, 80), 'actions']);
    const entity: Entity<'rule'> = {
      namespace: call.namespace,
      name,
      updated: deps.now(),
      doc: {
        trigger,
        action,
        status: body.status ?? existing?.doc.status ?? 'active',
        annotations: body.annotations ?? existing?.doc.annotations ?? [],
        version: (existing?.doc.version ?? 0) + 1,
      },
    };
    ow.putEntity('rule', entity);
    sendOwJson(call.res, 200, ruleView(entity));
  };

  return {
    fire,
    listTriggers(call: OwCall): void {
      need(call, 'read');
      const { skip, limit, count } = paging(call.url);
      const all = ow.listEntities(call.namespace, 'trigger');
      if (count) {
        sendOwJson(call.res, 200, { triggers: all.length });
        return;
      }
      const rules = ow.listEntities(call.namespace, 'rule');
      sendOwJson(
        call.res,
        200,
        all.slice(skip, skip + limit).map((t) => triggerView(t, rules)),
      );
    },
    getTrigger(call: OwCall): void {
      need(call, 'read');
      sendOwJson(call.res, 200, triggerView(getTrigger(call), ow.listEntities(call.namespace, 'rule')));
    },
    putTrigger,
    async deleteTrigger(call: OwCall): Promise<void> {
      need(call, 'deploy');
      const t = getTrigger(call);
      ow.deleteEntity(call.namespace, 'trigger', t.name);
      deps.onTriggerRemoved(call.namespace, t.name);
      sendOwJson(call.res, 200, triggerView(t, []));
    },
    async fireTrigger(call: OwCall): Promise<void> {
      if (call.principal.scope === 'read')
        throw new NimbusError('ERR_AUTH_FORBIDDEN', [call.principal.id, call.principal.scope, 'invoke']);
      const payload = await readParams(call);
      const t = getTrigger(call);
      const id = await fire(call.namespace, t, payload, (action) => {
        try {
          need(call, 'invoke', action);
          return true;
        } catch {
          return false;
        }
      });
      if (id === undefined) {
        call.res.writeHead(204).end();
        return;
      }
      sendOwJson(call.res, 202, { activationId: id }, { [ACTIVATION_ID_HEADER]: id });
    },
    listRules(call: OwCall): void {
      need(call, 'read');
      const { skip, limit, count } = paging(call.url);
      const all = ow.listEntities(call.namespace, 'rule');
      if (count) {
        sendOwJson(call.res, 200, { rules: all.length });
        return;
      }
      sendOwJson(call.res, 200, all.slice(skip, skip + limit).map(ruleView));
    },
    getRule(call: OwCall): void {
      need(call, 'read');
      sendOwJson(call.res, 200, ruleView(getRule(call)));
    },
    putRule,
    async setRuleStatus(call: OwCall): Promise<void> {
      need(call, 'deploy');
      const { status } = await readJsonBody(call.req, 64 * 1024, ruleStatusSchema);
      const r = getRule(call);
      const entity: Entity<'rule'> = { ...r, updated: deps.now(), doc: { ...r.doc, status } };
      ow.putEntity('rule', entity);
      sendOwJson(call.res, 200, ruleView(entity));
    },
    deleteRule(call: OwCall): void {
      need(call, 'deploy');
      const r = getRule(call);
      ow.deleteEntity(call.namespace, 'rule', r.name);
      sendOwJson(call.res, 200, ruleView(r));
    },
  };
}
