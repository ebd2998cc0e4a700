// /api/v1/secrets?namespace=NS: the secrets store of a namespace (OpenFaaS's /system/secrets speaks the same
// store in its own shapes, openfaas/openfaas-api.ts). Deploy scope in that namespace. Values go in, never
// out: listings name secrets and the functions that use them.
import { z } from 'zod';
import { acknowledged } from '../cluster/pending-writes.js';
import { formatZodIssues } from '../config/function-spec.js';
import { namespaceParam, splitFunctionId } from '../config/namespace.js';
import { NimbusError } from '../errors.js';
import type { SecretInfo, SecretStore } from '../store/secret-store.js';
import type { Store } from '../store/store.js';
import { readJson } from './control-api.js';
import { sendJson } from './respond.js';
import type { Router } from './router.js';

export interface SecretsApiDeps {
  secrets: SecretStore;
  store: Store;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `value` (text) or `valueBase64` (bytes): exactly one. */
const valueFields = {
  value: z.string().optional(),
  valueBase64: z.string().regex(BASE64_RE, 'must be base64').optional(),
};
const createSchema = z.strictObject({ name: z.string(), ...valueFields });
const updateSchema = z.strictObject(valueFields);

/** The bytes of a `{value}` or `{valueBase64}` body. */
function secretValue(body: { value?: string | undefined; valueBase64?: string | undefined }): Buffer {
  if ((body.value === undefined) === (body.valueBase64 === undefined))
    throw new NimbusError('ERR_SECRET_INVALID', [
      'give the value as "value" (text) or "valueBase64" (bytes)',
    ]);
  return body.value !== undefined
    ? Buffer.from(body.value, 'utf8')
    : Buffer.from(body.valueBase64!, 'base64');
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new NimbusError('ERR_REQUEST_INVALID', [formatZodIssues(parsed.error)]);
  return parsed.data;
}

/** The functions of a namespace whose spec names a secret. */
export function secretUsers(store: Store, namespace: string, name: string): string[] {
  const users: string[] = [];
  for (const fn of store.listFunctions()) {
    const id = splitFunctionId(fn.name);
    if (id.namespace === namespace && fn.spec.secrets?.includes(name)) users.push(id.name);
  }
  return users;
}

/**
 * In a cluster, a secret made through another node a moment ago: this node catches up before it answers
 * that there is none.
 */
export async function knownSecret(secrets: SecretStore, namespace: string, name: string): Promise<void> {
  if (!secrets.has(namespace, name)) await secrets.caughtUp?.();
}

/**
 * Removes a secret no function uses and waits until that is durable: ERR_SECRET_IN_USE naming the users,
 * ERR_SECRET_NOT_FOUND.
 */
export async function removeSecret(
  { secrets, store }: SecretsApiDeps,
  namespace: string,
  name: string,
): Promise<void> {
  await knownSecret(secrets, namespace, name);
  let users = secretUsers(store, namespace, name);
  // In a cluster, its last user may have been removed through another node a moment ago.
  if (users.length > 0 && store.caughtUp) {
    await store.caughtUp();
    users = secretUsers(store, namespace, name);
  }
  if (users.length > 0) throw new NimbusError('ERR_SECRET_IN_USE', [name, users.join(', ')]);
  if (!secrets.remove(namespace, name)) throw new NimbusError('ERR_SECRET_NOT_FOUND', [name.slice(0, 253)]);
  await acknowledged(() => secrets.sync(), `secret ${name}`);
}

/** The namespace `?namespace=` names (default: the default one); ERR_NAMESPACE_NOT_FOUND when there is none. */
async function namespaceOf(store: Store, asked: string | null): Promise<string> {
  const namespace = namespaceParam(asked);
  // In a cluster, a namespace made through another node a moment ago: this node catches up first.
  if (!store.getNamespace(namespace)) await store.caughtUp?.();
  if (!store.getNamespace(namespace))
    throw new NimbusError('ERR_NAMESPACE_NOT_FOUND', [namespace.slice(0, 80)]);
  return namespace;
}

function view(info: SecretInfo, usedBy: string[]): Record<string, unknown> {
  return {
    name: info.name,
    namespace: info.namespace,
    createdAt: new Date(info.createdAt).toISOString(),
    updatedAt: new Date(info.updatedAt).toISOString(),
    usedBy,
  };
}

export function secretRoutes(deps: SecretsApiDeps): (router: Router) => void {
  const { secrets, store } = deps;
  return (router) => {
    router
      .add(
        'GET',
        '/api/v1/secrets',
        async ({ res, url }) => {
          const namespace = await namespaceOf(store, url.searchParams.get('namespace'));
          sendJson(res, 200, {
            secrets: secrets.list(namespace).map((s) => view(s, secretUsers(store, namespace, s.name))),
          });
        },
        { access: 'deploy' },
      )
      .add(
        'POST',
        '/api/v1/secrets',
        async ({ req, res, url }) => {
          const namespace = await namespaceOf(store, url.searchParams.get('namespace'));
          const body = parse(createSchema, await readJson(req));
          const info = secrets.create(namespace, body.name, secretValue(body));
          await acknowledged(() => secrets.sync(), `secret ${info.name}`);
          sendJson(res, 201, view(info, []));
        },
        { access: 'deploy' },
      )
      .add(
        'PUT',
        '/api/v1/secrets/:name',
        async ({ req, res, url, params }) => {
          const namespace = await namespaceOf(store, url.searchParams.get('namespace'));
          const body = parse(updateSchema, await readJson(req));
          await knownSecret(secrets, namespace, params.name!);
          const info = secrets.update(namespace, params.name!, secretValue(body));
          await acknowledged(() => secrets.sync(), `secret ${info.name}`);
          sendJson(res, 200, view(info, secretUsers(store, namespace, info.name)));
        },
        { access: 'deploy' },
      )
      .add(
        'DELETE',
        '/api/v1/secrets/:name',
        async ({ res, url, params }) => {
          await removeSecret(deps, await namespaceOf(store, url.searchParams.get('namespace')), params.name!);
          sendJson(res, 200, { deleted: params.name });
        },
        { access: 'deploy' },
      );
  };
}
