// The control API (/api/v1/*): upload bundles, deploy, list, describe and remove functions. Bearer token required.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import type { Deployer } from '../dispatch/deployer.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { NimbusError } from '../errors.js';
import type { Artifacts } from '../store/artifacts.js';
import type { FunctionRecord, Store } from '../store/store.js';
import { OPENAPI } from './openapi.js';
import { sendError, sendJson } from './respond.js';

/** Largest JSON body the control API reads. */
export const CONTROL_BODY_LIMIT_BYTES = 1024 * 1024;
/** Largest bundle archive accepted. */
export const BUNDLE_LIMIT_BYTES = 256 * 1024 * 1024;

export interface ControlContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
}

type Handler = (ctx: ControlContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
  public: boolean;
}

/** A small method + path router: `/api/v1/functions/:name`. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler, options: { public?: boolean } = {}): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/:([a-zA-Z]+)/g, (_, key: string) => {
        keys.push(key);
        return '([^/]+)';
      })}$`,
    );
    this.routes.push({ method, pattern, keys, handler, public: options.public ?? false });
    return this;
  }

  match(
    method: string,
    pathname: string,
  ): { route: Route; params: Record<string, string> } | { allowed: string[] } | undefined {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.keys.forEach((key, i) => {
        params[key] = decodeURIComponent(m[i + 1]!);
      });
      return { route, params };
    }
    return allowed.length > 0 ? { allowed } : undefined;
  }
}

export interface ControlApiDeps {
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  deployer: Deployer;
  debug: boolean;
  isAdmin: (req: IncomingMessage) => boolean;
  hasToken: (req: IncomingMessage) => boolean;
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
    .add('GET', '/healthz', ({ res }) => sendJson(res, 200, { status: 'ok' }), { public: true })
    .add('GET', '/openapi.json', ({ res }) => sendJson(res, 200, OPENAPI), { public: true })
    .add('HEAD', '/api/v1/bundles/:hash', ({ res, params }) => {
      res.writeHead(artifacts.has(params.hash!) ? 200 : 404).end();
    })
    .add('PUT', '/api/v1/bundles/:hash', async ({ req, res, params }) => {
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
    })
    .add('GET', '/api/v1/functions', ({ res }) => {
      sendJson(res, 200, { functions: store.listFunctions().map(view) });
    })
    .add('GET', '/api/v1/functions/:name', ({ res, params }) => {
      const fn = store.getFunction(params.name!);
      if (!fn) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [params.name!]);
      const processes = dispatcher.get(fn.name)?.pool.processes() ?? [];
      sendJson(res, 200, { ...view(fn), processes });
    })
    .add('PUT', '/api/v1/functions/:name', async ({ req, res, params }) => {
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
    })
    .add('DELETE', '/api/v1/functions/:name', async ({ res, params }) => {
      if (!(await deployer.remove(params.name!)))
        throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [params.name!]);
      sendJson(res, 200, { deleted: params.name });
    });

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
    const url = new URL(req.url!, 'http://localhost');
    const found = router.match(req.method!, url.pathname);
    if (!found) {
      sendError(res, new NimbusError('ERR_ROUTE_NOT_FOUND', [req.method!, url.pathname]), deps.debug);
      return;
    }
    if ('allowed' in found) {
      sendError(
        res,
        new NimbusError('ERR_METHOD_NOT_ALLOWED', [req.method!, url.pathname], {
          headers: { allow: found.allowed.join(', ') },
        }),
        deps.debug,
      );
      return;
    }
    if (!found.route.public) {
      if (!deps.hasToken(req)) {
        req.resume();
        sendError(
          res,
          new NimbusError('ERR_AUTH_REQUIRED', [], {
            headers: { 'www-authenticate': 'Bearer realm="nimbus"' },
          }),
          deps.debug,
        );
        return;
      }
      if (!deps.isAdmin(req)) {
        req.resume();
        sendError(res, new NimbusError('ERR_AUTH_INVALID'), deps.debug);
        return;
      }
    }
    Promise.resolve()
      .then(() => found.route.handler({ req, res, params: found.params, url }))
      .catch((err: unknown) => {
        req.resume();
        sendError(res, err, deps.debug);
      });
  };
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
