// /api/v1/keys: access keys with a scope (admin, deploy, invoke, read) over a namespace and a set of
// functions. Admin only. The secret is in the answer to the create call only; it is stored hashed and sealed.
import { z } from 'zod';
import { allows } from '../auth/authenticate.js';
import type { KeyStore, KeyView, Principal } from '../auth/keys.js';
import { SCOPES } from '../auth/keys.js';
import { acknowledged } from '../cluster/pending-writes.js';
import { FUNCTION_NAME_RE, formatZodIssues } from '../config/function-spec.js';
import type { Namespaces } from '../dispatch/namespaces.js';
import { NimbusError } from '../errors.js';
import { readJson } from './control-api.js';
import { sendJson } from './respond.js';
import type { Router } from './router.js';

/** POST /api/v1/keys (also in /openapi.json). */
export const keyCreateSchema = z.strictObject({
  scope: z.enum(SCOPES),
  /** Default `default`; `*` (every namespace) only for admin keys. */
  namespace: z.string().min(1).max(63).default('default'),
  functions: z
    .union([
      z.literal('*'),
      z.array(z.string().regex(FUNCTION_NAME_RE, 'must be a function name')).min(1).max(1000),
    ])
    .default('*'),
  description: z.string().max(200).optional(),
});

export function keyView(k: KeyView): Record<string, unknown> {
  return {
    id: k.id,
    scope: k.scope,
    namespace: k.namespace,
    functions: k.functions,
    ...(k.description === undefined ? {} : { description: k.description }),
    createdAt: new Date(k.createdAt).toISOString(),
  };
}

/**
 * Keys are managed by admin credentials: one of no namespace manages every key, a namespace's admin key
 * those of its namespace. A key is never made by a narrower one.
 */
export function keyRoutes(keys: KeyStore, namespaces: Namespaces): (router: Router) => void {
  const manages = (principal: Principal | undefined, namespace: string): boolean =>
    principal !== undefined && allows(principal, 'admin', namespace);
  return (router) => {
    router
      .add(
        'POST',
        '/api/v1/keys',
        async ({ req, res, principal }) => {
          const parsed = keyCreateSchema.safeParse(await readJson(req));
          if (!parsed.success) throw new NimbusError('ERR_REQUEST_INVALID', [formatZodIssues(parsed.error)]);
          const { scope, namespace, functions, description } = parsed.data;
          if (namespace === '*' && scope !== 'admin')
            throw new NimbusError('ERR_REQUEST_INVALID', [
              'namespace "*" (all of them) is for admin keys only',
            ]);
          if (namespace !== '*' && !(await namespaces.find(namespace)))
            throw new NimbusError('ERR_NAMESPACE_NOT_FOUND', [namespace]);
          if (!manages(principal, namespace))
            throw new NimbusError('ERR_AUTH_FORBIDDEN', [
              principal!.id,
              principal!.scope,
              `admin in ${namespace}`,
            ]);
          const key = keys.create({ scope, namespace, functions, ...(description ? { description } : {}) });
          await acknowledged(() => keys.sync(), `key ${key.id}`);
          sendJson(res, 201, { ...keyView(key), secret: key.secret });
        },
        { scope: 'own' },
      )
      .add(
        'GET',
        '/api/v1/keys',
        ({ res, principal }) => {
          sendJson(res, 200, {
            keys: keys
              .list()
              .filter((k) => manages(principal, k.namespace))
              .map(keyView),
          });
        },
        { scope: 'own' },
      )
      .add(
        'DELETE',
        '/api/v1/keys/:id',
        async ({ res, params, principal }) => {
          // A key made through another node a moment ago: this node catches up before it says there is none.
          if (!keys.get(params.id!)) await keys.caughtUp?.();
          const key = keys.get(params.id!);
          if (!key || key.owner !== undefined || !manages(principal, key.namespace))
            throw new NimbusError('ERR_KEY_NOT_FOUND', [params.id!.slice(0, 80)]);
          keys.remove(key.id);
          await acknowledged(() => keys.sync(), `key ${key.id}`);
          sendJson(res, 200, { deleted: key.id });
        },
        { scope: 'own' },
      );
  };
}
