// /api/v1/functions/:name/versions, /rollback and /aliases: every deploy is an immutable numbered version;
// a rollback makes an older one current at once; an alias names a version and may send a percentage of its
// calls to others (a canary), invoked at /function/{name}@{alias}.
import { z } from 'zod';
import { acknowledged } from '../cluster/pending-writes.js';
import { formatZodIssues } from '../config/function-spec.js';
import { splitFunctionId } from '../config/namespace.js';
import type { Deployer } from '../dispatch/deployer.js';
import { NimbusError } from '../errors.js';
import type { AliasRecord, Store } from '../store/store.js';
import { readJson } from './control-api.js';
import { type FunctionsApiDeps, functionViewer, namedFunction } from './functions-api.js';
import { sendJson } from './respond.js';
import type { Router } from './router.js';

/** Lambda's alias names, which are never a version number. */
export const ALIAS_NAME_RE = /^(?!\d+$)[A-Za-z0-9_-]{1,128}$/;

/** PUT /api/v1/functions/{name}/aliases/{alias} (also in /openapi.json). */
export const aliasSchema = z.strictObject({
  version: z.number().int().min(1),
  /** Version → percent of the alias's calls (0-100); the rest goes to `version`. */
  weights: z
    .record(z.string().regex(/^\d+$/, 'must be a version number'), z.number().min(0).max(100))
    .default({}),
  description: z.string().max(256).optional(),
});

export const rollbackSchema = z.strictObject({ to: z.number().int().min(1).optional() });

export interface VersionsApiDeps extends FunctionsApiDeps {
  store: Store;
  deployer: Deployer;
  /** After an alias of function `id` changed (the dispatcher routes by it). */
  onAliasesChanged: (id: string) => void;
}

/** Checks an alias against the function's versions; the record to store. */
export function checkAlias(
  store: Store,
  id: string,
  name: string,
  input: { version: number; weights: Record<string, number>; description?: string | undefined },
  now: number,
): AliasRecord {
  const fn = splitFunctionId(id).name;
  if (!ALIAS_NAME_RE.test(name))
    throw new NimbusError('ERR_ALIAS_INVALID', [
      `"${name.slice(0, 80)}" must be 1-128 letters, digits, "-" or "_", and not a number`,
    ]);
  if (!store.getVersion(id, input.version))
    throw new NimbusError('ERR_VERSION_NOT_FOUND', [fn, String(input.version)]);
  let total = 0;
  for (const [version, percent] of Object.entries(input.weights)) {
    if (Number(version) === input.version)
      throw new NimbusError('ERR_ALIAS_INVALID', [
        `version ${version} is the alias's own; weights name other versions`,
      ]);
    if (!store.getVersion(id, Number(version))) throw new NimbusError('ERR_VERSION_NOT_FOUND', [fn, version]);
    total += percent;
  }
  if (total > 100)
    throw new NimbusError('ERR_ALIAS_INVALID', [`the weights add up to ${total} percent, more than 100`]);
  const old = store.getAlias(id, name);
  return {
    fn: id,
    name,
    version: input.version,
    weights: input.weights,
    ...(input.description === undefined ? {} : { description: input.description }),
    createdAt: old?.createdAt ?? now,
    updatedAt: now,
  };
}

export function aliasView(a: AliasRecord): Record<string, unknown> {
  return {
    name: a.name,
    version: a.version,
    weights: a.weights,
    ...(a.description === undefined ? {} : { description: a.description }),
    createdAt: new Date(a.createdAt).toISOString(),
    updatedAt: new Date(a.updatedAt).toISOString(),
  };
}

export function versionRoutes(deps: VersionsApiDeps): (router: Router) => void {
  const { store, deployer } = deps;
  const view = functionViewer(deps);
  const existing = (id: string, name: string) => {
    const fn = store.getFunction(id);
    if (!fn) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
    return fn;
  };
  return (router) => {
    router
      .add(
        'GET',
        '/api/v1/functions/:name/versions',
        ({ res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'read', params.name!, url);
          const current = existing(id, name).version;
          const aliases = store.listAliases(id);
          sendJson(res, 200, {
            current,
            versions: store.listVersions(id).map((v) => ({
              version: v.version,
              current: v.version === current,
              bundle: v.bundle,
              runtime: v.spec.runtime,
              createdAt: new Date(v.createdAt).toISOString(),
              aliases: aliases.filter((a) => a.version === v.version).map((a) => a.name),
            })),
          });
        },
        { access: 'read' },
      )
      .add(
        'POST',
        '/api/v1/functions/:name/rollback',
        async ({ req, res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'deploy', params.name!, url);
          const parsed = rollbackSchema.safeParse(await readJson(req));
          if (!parsed.success) throw new NimbusError('ERR_REQUEST_INVALID', [formatZodIssues(parsed.error)]);
          existing(id, name);
          sendJson(res, 200, view(await deployer.rollback(id, parsed.data.to)));
        },
        { access: 'deploy' },
      )
      .add(
        'GET',
        '/api/v1/functions/:name/aliases',
        ({ res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'read', params.name!, url);
          existing(id, name);
          sendJson(res, 200, { aliases: store.listAliases(id).map(aliasView) });
        },
        { access: 'read' },
      )
      .add(
        'GET',
        '/api/v1/functions/:name/aliases/:alias',
        ({ res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'read', params.name!, url);
          const alias = store.getAlias(id, params.alias!);
          if (!alias) throw new NimbusError('ERR_ALIAS_NOT_FOUND', [name, params.alias!.slice(0, 80)]);
          sendJson(res, 200, aliasView(alias));
        },
        { access: 'read' },
      )
      .add(
        'PUT',
        '/api/v1/functions/:name/aliases/:alias',
        async ({ req, res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'deploy', params.name!, url);
          existing(id, name);
          const parsed = aliasSchema.safeParse(await readJson(req));
          if (!parsed.success) throw new NimbusError('ERR_REQUEST_INVALID', [formatZodIssues(parsed.error)]);
          const created = store.getAlias(id, params.alias!) === undefined;
          const alias = store.putAlias(checkAlias(store, id, params.alias!, parsed.data, Date.now()));
          deps.onAliasesChanged(id);
          await acknowledged(async () => store.sync?.(), `alias ${name}@${alias.name}`);
          sendJson(res, created ? 201 : 200, aliasView(alias));
        },
        { access: 'deploy' },
      )
      .add(
        'DELETE',
        '/api/v1/functions/:name/aliases/:alias',
        async ({ res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'deploy', params.name!, url);
          if (!store.deleteAlias(id, params.alias!))
            throw new NimbusError('ERR_ALIAS_NOT_FOUND', [name, params.alias!.slice(0, 80)]);
          deps.onAliasesChanged(id);
          await acknowledged(async () => store.sync?.(), `alias ${name}@${params.alias}`);
          sendJson(res, 200, { deleted: params.alias });
        },
        { access: 'deploy' },
      );
  };
}
