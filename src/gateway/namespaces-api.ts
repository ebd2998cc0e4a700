// /api/v1/namespaces: tenants and their quotas. Creating, changing and removing one is for admin credentials
// over every namespace; a key sees (and describes, with its usage) only its own namespace.
import { z } from 'zod';
import { allows } from '../auth/authenticate.js';
import type { KeyStore } from '../auth/keys.js';
import { acknowledged } from '../cluster/pending-writes.js';
import { formatZodIssues } from '../config/function-spec.js';
import {
  DEFAULT_NAMESPACE,
  NAMESPACE_RE,
  type NamespaceRecord,
  OPENFAAS_NAMESPACE,
  quotasSchema,
} from '../config/namespace.js';
import type { Namespaces } from '../dispatch/namespaces.js';
import { NimbusError } from '../errors.js';
import type { SecretStore } from '../store/secret-store.js';
import { readJson } from './control-api.js';
import { sendJson } from './respond.js';
import type { Router } from './router.js';

/** POST /api/v1/namespaces (also in /openapi.json). */
export const namespaceCreateSchema = quotasSchema.extend({ name: z.string() });

/** Quotas to set: a number sets one, null clears it, an absent one stays. */
export const namespaceUpdateSchema = z.strictObject(
  Object.fromEntries(
    Object.keys(quotasSchema.shape).map((k) => [k, z.number().min(0).nullable().optional()]),
  ),
);

export function assertNamespaceName(name: string): void {
  if (!NAMESPACE_RE.test(name) || name === OPENFAAS_NAMESPACE)
    throw new NimbusError('ERR_NAMESPACE_NAME_INVALID', [name.slice(0, 80)]);
}

/** Removes an empty namespace: no functions, and no keys of people (a function's own key goes with it). */
export function removeNamespace(
  namespaces: Namespaces,
  keys: KeyStore,
  name: string,
  secrets?: SecretStore,
): void {
  if (name === DEFAULT_NAMESPACE) throw new NimbusError('ERR_NAMESPACE_DEFAULT');
  const { functions } = namespaces.usage(name);
  const owned = keys.list().filter((k) => k.namespace === name).length;
  if (functions > 0 || owned > 0) throw new NimbusError('ERR_NAMESPACE_NOT_EMPTY', [name, functions, owned]);
  namespaces.remove(name);
  // Its secrets go with it (as a Kubernetes namespace's do): a namespace made again later starts empty.
  secrets?.removeNamespace(name);
}

export function namespaceRoutes(
  namespaces: Namespaces,
  keys: KeyStore,
  secrets?: SecretStore,
): (router: Router) => void {
  const view = (ns: NamespaceRecord, withUsage: boolean) => ({
    name: ns.name,
    quotas: ns.quotas,
    createdAt: new Date(ns.createdAt).toISOString(),
    ...(withUsage ? { usage: namespaces.usage(ns.name) } : {}),
  });
  const existing = (name: string): NamespaceRecord => {
    const ns = namespaces.get(name);
    if (!ns) throw new NimbusError('ERR_NAMESPACE_NOT_FOUND', [name.slice(0, 80)]);
    return ns;
  };
  return (router) => {
    router
      .add(
        'GET',
        '/api/v1/namespaces',
        ({ res, principal }) => {
          const visible = namespaces.list().filter((ns) => principal && allows(principal, 'read', ns.name));
          sendJson(res, 200, { namespaces: visible.map((ns) => view(ns, false)) });
        },
        { access: 'read', scope: 'own' },
      )
      .add(
        'POST',
        '/api/v1/namespaces',
        async ({ req, res }) => {
          const parsed = namespaceCreateSchema.safeParse(await readJson(req));
          if (!parsed.success) throw new NimbusError('ERR_REQUEST_INVALID', [formatZodIssues(parsed.error)]);
          const { name, ...quotas } = parsed.data;
          assertNamespaceName(name);
          if (namespaces.get(name)) throw new NimbusError('ERR_NAMESPACE_EXISTS', [name]);
          const created = namespaces.put(name, { quotas });
          await namespaces.sync(name);
          sendJson(res, 201, view(created, true));
        },
        { access: 'admin', scope: 'global' },
      )
      .add(
        'GET',
        '/api/v1/namespaces/:name',
        ({ res, params, principal }) => {
          // Reach first: a key learns nothing of a namespace it may not read, not even whether it exists.
          if (!principal || !allows(principal, 'read', params.name!))
            throw new NimbusError('ERR_AUTH_FORBIDDEN', [
              principal?.id ?? '',
              principal?.scope ?? '',
              `read in namespace "${params.name!.slice(0, 80)}"`,
            ]);
          sendJson(res, 200, view(existing(params.name!), true));
        },
        { access: 'read', scope: 'own' },
      )
      .add(
        'PUT',
        '/api/v1/namespaces/:name',
        async ({ req, res, params }) => {
          const ns = existing(params.name!);
          const parsed = namespaceUpdateSchema.safeParse(await readJson(req));
          if (!parsed.success) throw new NimbusError('ERR_REQUEST_INVALID', [formatZodIssues(parsed.error)]);
          const quotas: Record<string, number | undefined> = { ...ns.quotas };
          for (const [key, value] of Object.entries(parsed.data)) {
            if (value === null) delete quotas[key];
            else if (value !== undefined) quotas[key] = value;
          }
          const checked = quotasSchema.safeParse(quotas);
          if (!checked.success)
            throw new NimbusError('ERR_REQUEST_INVALID', [formatZodIssues(checked.error)]);
          const changed = namespaces.put(ns.name, { quotas: checked.data });
          await namespaces.sync(ns.name);
          sendJson(res, 200, view(changed, true));
        },
        { access: 'admin', scope: 'global' },
      )
      .add(
        'DELETE',
        '/api/v1/namespaces/:name',
        async ({ res, params }) => {
          const ns = existing(params.name!);
          removeNamespace(namespaces, keys, ns.name, secrets);
          await namespaces.sync(ns.name);
          if (secrets) await acknowledged(() => secrets.sync(), `the secrets of namespace ${ns.name}`);
          sendJson(res, 200, { deleted: ns.name });
        },
        { access: 'admin', scope: 'global' },
      );
  };
}
