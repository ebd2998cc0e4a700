// The control API (/api/v1/*): upload bundles, deploy, list, describe and remove functions. Bearer token required.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { type Access, type Authenticator, allows } from '../auth/authenticate.js';
import type { Principal } from '../auth/keys.js';
import type { Deployer } from '../dispatch/deployer.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { NimbusError } from '../errors.js';
import type { Artifacts } from '../store/artifacts.js';
import type { FunctionRecord, Store } from '../store/store.js';
import { OPENAPI } from './openapi.js';
import { sendError, sendJson, toNimbusError } from './respond.js';
import { Router } from './router.js';

/** Largest JSON body the control API reads. */
export const CONTROL_BODY_LIMIT_BYTES = 1024 * 1024;
/** Largest bundle archive accepted. */
export const BUNDLE_LIMIT_BYTES = 256 * 1024 * 1024;

export interface ControlApiDeps {
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  deployer: Deployer;
  debug: boolean;
  auth: Authenticator;
  /** Logs a failure the caller sees as 500 ERR_INTERNAL: `error.message` has its reference, `error.cause` the original. */
  onInternalError: (error: NimbusError, req: IncomingMessage) => void;
  /** Base URL the gateway is reached at (for the URLs it prints). */
  baseUrl: () => string;
  /** Route groups added by other subsystems (async calls, compat APIs), each in its own module. */
  extraRoutes?: readonly ((router: Router) => void)[];
  /** Extra fields for a function's view (e.g. the next cron run), merged into list and describe. */
  extraView?: (fn: FunctionRecord) => Record<string, unknown>;
}

export function createControlApi(deps: ControlApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { store, artifacts, dispatcher, deployer } = deps;
  const router = new Router()
    .add('GET', '/healthz', ({ res }) => sendJson(res, 200, { status: 'ok' }), { access: 'public' })
    .add('GET', '/openapi.json', ({ res }) => sendJson(res, 200, OPENAPI), { access: 'public' })
    .add(
      'HEAD',
      '/api/v1/bundles/:hash',
      ({ res, params }) => {
        res.writeHead(artifacts.has(params.hash!) ? 200 : 404).end();
      },
      { access: 'deploy' },
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
      { access: 'deploy' },
    )
    .add(
      'GET',
      '/api/v1/functions',
      ({ res }) => {
        sendJson(res, 200, { functions: store.listFunctions().map(view) });
      },
      { access: 'read' },
    )
    .add(
      'GET',
      '/api/v1/functions/:name',
      ({ res, params }) => {
        const fn = store.getFunction(params.name!);
        if (!fn) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [params.name!]);
        const processes = dispatcher.get(fn.name)?.pool.processes() ?? [];
        sendJson(res, 200, { ...view(fn), processes });
      },
      { access: 'read' },
    )
    .add(
      'PUT',
      '/api/v1/functions/:name',
      async ({ req, res, params }) => {
        const body = (await readJson(req)) as { bundle?: unknown; spec?: unknown; entry?: unknown };
        if (typeof body.bundle !== 'string')
          throw new NimbusError('ERR_REQUEST_INVALID', [
            '"bundle" (the sha256 of an uploaded bundle) is required',
          ]);
        if (body.entry !== undefined && typeof body.entry !== 'string')
          throw new NimbusError('ERR_REQUEST_INVALID', ['"entry" must be a string']);
        const result = await deployer.deploy({
          name: params.name!,
          bundle: body.bundle,
          spec: body.spec ?? {},
          ...(body.entry === undefined ? {} : { entry: body.entry }),
        });
        const fn = store.getFunction(params.name!)!;
        sendJson(res, result.changed ? 201 : 200, { ...view(fn), changed: result.changed });
      },
      { access: 'deploy' },
    )
    .add(
      'DELETE',
      '/api/v1/functions/:name',
      async ({ res, params }) => {
        if (!(await deployer.remove(params.name!)))
          throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [params.name!]);
        sendJson(res, 200, { deleted: params.name });
      },
      { access: 'deploy' },
    );

  for (const addRoutes of deps.extraRoutes ?? []) addRoutes(router);

  function view(fn: FunctionRecord) {
    const entry = dispatcher.get(fn.name);
    const stats = entry?.pool.stats();
    const pending = entry && entry.fn.version === fn.version ? entry.counts : { invocations: 0, errors: 0 };
    return {
      name: fn.name,
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
  }

  return function control(req, res) {
    // The error boundary: whatever a handler throws, now or later, becomes one coded answer.
    const fail = (err: unknown): void => {
      req.resume();
      const error = toNimbusError(err);
      if (!(err instanceof NimbusError)) deps.onInternalError(error, req);
      sendError(res, error, deps.debug);
    };
    try {
      const found = router.match(req.method!, req.url!);
      if (found.kind === 'not-found') {
        fail(new NimbusError('ERR_ROUTE_NOT_FOUND', [req.method!, printable(req.url!)]));
        return;
      }
      if (found.kind === 'method-not-allowed') {
        fail(
          new NimbusError('ERR_METHOD_NOT_ALLOWED', [req.method!, printable(req.url!)], {
            headers: { allow: found.allowed.join(', ') },
          }),
        );
        return;
      }
      const { route, params, url } = found;
      if (route.access !== 'public') authorize(deps.auth, req, route.access);
      Promise.resolve(route.handler({ req, res, params, url })).catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

/**
 * The principal of a request that needs `access`: ERR_AUTH_REQUIRED without a credential, ERR_AUTH_INVALID
 * for a wrong one, ERR_AUTH_FORBIDDEN for a key whose scope falls short.
 */
export function authorize(
  auth: Authenticator,
  req: IncomingMessage,
  access: Access,
  namespace = 'default',
  fn?: string,
): Principal {
  const credential = auth.identify(req);
  if (credential === undefined)
    throw new NimbusError('ERR_AUTH_REQUIRED', [], {
      headers: { 'www-authenticate': 'Bearer realm="nimbus"' },
    });
  const { principal } = credential;
  if (!principal) throw new NimbusError('ERR_AUTH_INVALID');
  if (!allows(principal, access, namespace, fn))
    throw new NimbusError('ERR_AUTH_FORBIDDEN', [principal.id, principal.scope, access]);
  return principal;
}

/** A request target as an error message may quote it: at most 200 characters, no control characters. */
function printable(target: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const clean = target.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

/** Reads a JSON body of at most CONTROL_BODY_LIMIT_BYTES. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > CONTROL_BODY_LIMIT_BYTES)
      throw new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [CONTROL_BODY_LIMIT_BYTES]);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Error('expected a JSON object');
    return value;
  } catch (err) {
    throw new NimbusError('ERR_REQUEST_INVALID', [`body is not a JSON object: ${(err as Error).message}`]);
  }
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
