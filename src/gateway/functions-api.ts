// /api/v1/bundles and /api/v1/functions: upload bundles; deploy, list, describe and remove functions, in the
// namespace `?namespace=` names (default: the default one; `*` on the list: every namespace the caller sees).
import { Transform } from 'node:stream';
import { type Access, allows } from '../auth/authenticate.js';
import type { Principal } from '../auth/keys.js';
import { assertFunctionName } from '../config/function-spec.js';
import { functionId, namespaceParam, splitFunctionId } from '../config/namespace.js';
import type { Deployer } from '../dispatch/deployer.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { NimbusError } from '../errors.js';
import type { Artifacts } from '../store/artifacts.js';
import type { FunctionRecord, Store } from '../store/store.js';
import { readJson } from './control-api.js';
import { sendJson } from './respond.js';
import type { RequestTarget, Router } from './router.js';

/** Largest bundle archive accepted. */
export const BUNDLE_LIMIT_BYTES = 256 * 1024 * 1024;

export interface FunctionsApiDeps {
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  deployer: Deployer;
  /** Base URL the gateway is reached at (for the URLs it prints). */
  baseUrl: () => string;
  /** Extra fields for a function's view (e.g. the next cron run), merged into list and describe. */
  extraView?: (fn: FunctionRecord) => Record<string, unknown>;
}

export type FunctionView = ReturnType<ReturnType<typeof functionViewer>>;

/** A function as the API shows it: its spec, version, counters and what its pool holds now. */
export function functionViewer(deps: FunctionsApiDeps) {
  const { dispatcher } = deps;
  return (fn: FunctionRecord) => {
    const entry = dispatcher.get(fn.name);
    const stats = entry?.pool.stats();
    const pending = entry && entry.fn.version === fn.version ? entry.counts : { invocations: 0, errors: 0 };
    const { name, namespace } = splitFunctionId(fn.name);
    return {
      name,
      namespace,
      version: fn.version,
      runtime: fn.spec.runtime,
      bundle: fn.bundle,
      entry: fn.entry,
      url: `${deps.baseUrl()}/function/${fn.name}`,
      spec: fn.spec,
      createdAt: new Date(fn.firstCreatedAt).toISOString(),
      updatedAt: new Date(fn.createdAt).toISOString(),
      invocations: fn.invocations + pending.invocations,
      errors: fn.errors + pending.errors,
      instances: stats?.instances ?? 0,
      starting: stats?.starting ?? 0,
      inflight: stats?.inflight ?? 0,
      queued: stats?.queued ?? 0,
      status: stats?.lastStartError ? 'unhealthy' : 'ready',
      ...(stats?.lastStartError ? { lastError: stats.lastStartError } : {}),
      ...deps.extraView?.(fn),
    };
  };
}

/**
 * The id of the function a request names (`:name` in `?namespace=`), once the principal may do `access` to it:
 * a key limited to some functions reaches only those.
 */
export function namedFunction(
  principal: Principal | undefined,
  access: Access,
  name: string,
  url: RequestTarget,
): { id: string; namespace: string; name: string } {
  assertFunctionName(name);
  const namespace = namespaceParam(url.searchParams.get('namespace'));
  if (principal && !allows(principal, access, namespace, name))
    throw new NimbusError('ERR_AUTH_FORBIDDEN', [principal.id, principal.scope, `${access} on ${name}`]);
  return { id: functionId(namespace, name), namespace, name };
}

/** Whether a principal sees a function in lists (its namespace, and its functions when it is limited to some). */
export function sees(principal: Principal | undefined, id: string): boolean {
  if (!principal) return false;
  const { name, namespace } = splitFunctionId(id);
  return allows(principal, 'read', namespace, name);
}

export function functionRoutes(deps: FunctionsApiDeps): (router: Router) => void {
  const { store, artifacts, dispatcher, deployer } = deps;
  const view = functionViewer(deps);
  return (router) => {
    router
      .add(
        'HEAD',
        '/api/v1/bundles/:hash',
        ({ res, params }) => {
          res.writeHead(artifacts.has(params.hash!) ? 200 : 404).end();
        },
        // Bundles are content, in no namespace: a deploy credential of any namespace may upload them.
        { access: 'deploy', scope: 'own' },
      )
      .add(
        'PUT',
        '/api/v1/bundles/:hash',
        async ({ req, res, params }) => {
          const declared = Number(req.headers['content-length'] ?? 0);
          if (declared > BUNDLE_LIMIT_BYTES)
            throw new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [BUNDLE_LIMIT_BYTES]);
          const limited = limitBytes(BUNDLE_LIMIT_BYTES);
          req.on('close', () => {
            if (!req.complete)
              limited.destroy(new NimbusError('ERR_REQUEST_INVALID', ['the upload was cut short']));
          });
          const created = await artifacts.putArchive(params.hash!, req.pipe(limited));
          sendJson(res, created ? 201 : 200, { bundle: params.hash, created });
        },
        { access: 'deploy', scope: 'own' },
      )
      .add(
        'GET',
        '/api/v1/functions',
        ({ res, url, principal }) => {
          const asked = url.searchParams.get('namespace');
          const namespace = asked === '*' ? undefined : namespaceParam(asked);
          const functions = store
            .listFunctions()
            .filter((fn) => sees(principal, fn.name))
            .filter((fn) => namespace === undefined || splitFunctionId(fn.name).namespace === namespace);
          sendJson(res, 200, { functions: functions.map(view) });
        },
        { access: 'read' },
      )
      .add(
        'GET',
        '/api/v1/functions/:name',
        ({ res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'read', params.name!, url);
          const fn = store.getFunction(id);
          if (!fn) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
          const processes = dispatcher.get(fn.name)?.pool.processes() ?? [];
          sendJson(res, 200, { ...view(fn), processes });
        },
        { access: 'read' },
      )
      .add(
        'PUT',
        '/api/v1/functions/:name',
        async ({ req, res, params, url, principal }) => {
          const { id, namespace, name } = namedFunction(principal, 'deploy', params.name!, url);
          const body = (await readJson(req)) as { bundle?: unknown; spec?: unknown; entry?: unknown };
          if (typeof body.bundle !== 'string')
            throw new NimbusError('ERR_REQUEST_INVALID', [
              '"bundle" (the sha256 of an uploaded bundle) is required',
            ]);
          if (body.entry !== undefined && typeof body.entry !== 'string')
            throw new NimbusError('ERR_REQUEST_INVALID', ['"entry" must be a string']);
          const result = await deployer.deploy({
            name,
            namespace,
            bundle: body.bundle,
            spec: body.spec ?? {},
            ...(body.entry === undefined ? {} : { entry: body.entry }),
          });
          const fn = store.getFunction(id)!;
          sendJson(res, result.changed ? 201 : 200, { ...view(fn), changed: result.changed });
        },
        { access: 'deploy' },
      )
      .add(
        'DELETE',
        '/api/v1/functions/:name',
        async ({ res, params, url, principal }) => {
          const { id, name } = namedFunction(principal, 'deploy', params.name!, url);
          if (!(await deployer.remove(id))) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
          sendJson(res, 200, { deleted: name });
        },
        { access: 'deploy' },
      );
  };
}

function limitBytes(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [limit]));
      else callback(null, chunk);
    },
  });
}
