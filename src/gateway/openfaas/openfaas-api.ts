// The OpenFaaS gateway's /system/* API as faas-cli calls it: functions (list, deploy, update, remove,
// describe, scale), info, namespaces, secrets (refused: no store yet) and logs (NDJSON, tail/since/follow).
// Basic auth (admin / the admin token) or the bearer token; answers and errors in OpenFaaS's own shape
// (JSON bodies, plain-text errors). Deploys go through the Deployer, as the native API's do.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Access, Authenticator } from '../../auth/authenticate.js';
import { OPENFAAS_NAMESPACE } from '../../config/openfaas.js';
import type { Deployer } from '../../dispatch/deployer.js';
import type { Dispatcher } from '../../dispatch/dispatcher.js';
import { NimbusError } from '../../errors.js';
import type { LogEntry, LogStore } from '../../logs/log-store.js';
import type { Artifacts } from '../../store/artifacts.js';
import type { Store } from '../../store/store.js';
import { authorize, readJson } from '../control-api.js';
import { toNimbusError } from '../respond.js';
import type { ControlContext, Router } from '../router.js';
import { checkNamespace, deploymentToDeploy, type FunctionDeployment, functionStatus } from './deployment.js';

export interface OpenFaaSApiDeps {
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  deployer: Deployer;
  logs: LogStore;
  auth: Authenticator;
  /** How long a scale-function count holds before the autoscaler steers again (its stable window). */
  manualScaleHoldMs: number;
}

const RELEASE = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'dev';
  } catch {
    return 'dev';
  }
})();

type Handler = (ctx: ControlContext) => Promise<void> | void;

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An error as OpenFaaS answers one: its status and a line of text (here `CODE: message`). */
function sendFailure(res: ServerResponse, err: unknown): void {
  const e = toNimbusError(err);
  sendText(res, e.status, `${e.code}: ${e.message}\n`, { ...e.headers });
}

export function openfaasRoutes(deps: OpenFaaSApiDeps): (router: Router) => void {
  const { store, dispatcher, deployer } = deps;

  /**
   * OpenFaaS's basic auth on /system/* (the admin token as Basic's password, or any Nimbus credential whose
   * scope has `access`): 401 with a Basic challenge, as faas-cli expects; errors as plain text.
   */
  const guarded =
    (handler: Handler, access: Access) =>
    (ctx: ControlContext): Promise<void> => {
      const { req, res } = ctx;
      return Promise.resolve()
        .then(() => {
          authorize(deps.auth, req, access);
          return handler(ctx);
        })
        .catch((err: unknown) => {
          req.resume();
          const e = toNimbusError(err);
          if (e.status === 401) {
            sendText(
              res,
              401,
              `${e.code}: ${e.message}; faas-cli: faas-cli login --username admin --password-stdin\n`,
              { 'www-authenticate': 'Basic realm="nimbus"' },
            );
          } else sendFailure(res, e);
        });
    };

  const listFunctions: Handler = ({ res, url }) => {
    checkNamespace(url.searchParams.get('namespace'));
    sendJson(
      res,
      200,
      store.listFunctions().map((fn) => functionStatus(fn, dispatcher)),
    );
  };

  const getFunction: Handler = ({ res, url, params }) => {
    checkNamespace(url.searchParams.get('namespace'));
    const fn = store.getFunction(params.name!);
    if (!fn) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [params.name!]);
    sendJson(res, 200, functionStatus(fn, dispatcher));
  };

  const deploy =
    (update: boolean): Handler =>
    async ({ req, res, url }) => {
      checkNamespace(url.searchParams.get('namespace'));
      const body = (await readJson(req)) as FunctionDeployment;
      // faas-cli updates first (PUT) and creates (POST) when the update answers 404.
      if (update && typeof body.service === 'string' && !store.getFunction(body.service))
        throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [body.service.slice(0, 80)]);
      await deployer.deploy(deploymentToDeploy(body, store, deps.artifacts));
      res.writeHead(update ? 200 : 202).end();
    };

  const deleteFunction: Handler = async ({ req, res, url }) => {
    checkNamespace(url.searchParams.get('namespace'));
    const body = (await readJson(req)) as { functionName?: unknown; namespace?: unknown };
    if (typeof body.functionName !== 'string' || body.functionName === '')
      throw new NimbusError('ERR_REQUEST_INVALID', ['"functionName" is required']);
    checkNamespace(body.namespace);
    if (!(await deployer.remove(body.functionName)))
      throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [body.functionName]);
    deps.logs.forget(body.functionName);
    res.writeHead(200).end();
  };

  const scaleFunction: Handler = async ({ req, res, params }) => {
    const body = (await readJson(req)) as { serviceName?: unknown; namespace?: unknown; replicas?: unknown };
    checkNamespace(body.namespace);
    const entry = dispatcher.get(params.name!);
    if (!entry) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [params.name!]);
    const replicas = Number(body.replicas);
    if (!Number.isInteger(replicas) || replicas < 0)
      throw new NimbusError('ERR_REQUEST_INVALID', ['"replicas" must be a whole number ≥ 0']);
    // Moves the pool now, within scale.min..scale.max, and holds the count for the autoscaler's stable
    // window: its next tick would otherwise undo it.
    entry.pool.pinReplicas(replicas, deps.manualScaleHoldMs);
    res.writeHead(202).end();
  };

  const info: Handler = ({ res }) => {
    const version = { sha: '', release: RELEASE, commit_message: '' };
    sendJson(res, 200, {
      provider: { provider: 'nimbus', orchestration: 'nimbus', version },
      version,
      arch: process.arch === 'arm64' ? 'arm64' : 'x86_64',
    });
  };

  const secrets: Handler = ({ req }) => {
    req.resume();
    throw new NimbusError('ERR_SECRETS_UNSUPPORTED', ['/system/secrets']);
  };

  const logs: Handler = ({ req, res, url }) => {
    const q = url.searchParams;
    checkNamespace(q.get('namespace'));
    const name = q.get('name') ?? '';
    if (name === '') throw new NimbusError('ERR_REQUEST_INVALID', ['"name" is required']);
    if (!store.getFunction(name) && deps.logs.query(name, { tail: 1 }).length === 0)
      throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [name.slice(0, 80)]);
    const tailParam = q.get('tail');
    const tail = tailParam === null || tailParam === '' ? undefined : Number(tailParam);
    if (tail !== undefined && !Number.isInteger(tail))
      throw new NimbusError('ERR_REQUEST_INVALID', ['"tail" must be a whole number (-1: all)']);
    const sinceParam = q.get('since');
    const sinceMs = sinceParam ? Date.parse(sinceParam) : undefined;
    if (sinceMs !== undefined && Number.isNaN(sinceMs))
      throw new NimbusError('ERR_REQUEST_INVALID', ['"since" must be an RFC 3339 time']);
    const instance = q.get('instance') || undefined;
    const follow = q.get('follow') === 'true' || q.get('follow') === '1';
    const line = (e: LogEntry) =>
      `${JSON.stringify({
        name: e.fn,
        namespace: OPENFAAS_NAMESPACE,
        instance: e.instance,
        timestamp: new Date(e.time).toISOString(),
        text: e.text,
      })}\n`;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    const past = deps.logs.query(name, {
      ...(tail !== undefined && tail >= 0 ? { tail } : {}),
      ...(sinceMs !== undefined ? { sinceMs } : {}),
      ...(instance ? { instance } : {}),
    });
    const text = past.map(line).join('');
    if (!follow) {
      res.end(text);
      return;
    }
    if (text) res.write(text);
    else res.flushHeaders();
    const unsubscribe = deps.logs.subscribe(
      name,
      (e) => {
        if (!instance || e.instance === instance) res.write(line(e));
      },
      () => res.end(),
    );
    res.once('close', unsubscribe);
    req.resume();
  };

  return (router) => {
    router
      .add('GET', '/system/functions', guarded(listFunctions, 'read'), { access: 'public' })
      .add('POST', '/system/functions', guarded(deploy(false), 'deploy'), { access: 'public' })
      .add('PUT', '/system/functions', guarded(deploy(true), 'deploy'), { access: 'public' })
      .add('DELETE', '/system/functions', guarded(deleteFunction, 'deploy'), { access: 'public' })
      .add('GET', '/system/function/:name', guarded(getFunction, 'read'), { access: 'public' })
      .add('POST', '/system/scale-function/:name', guarded(scaleFunction, 'deploy'), { access: 'public' })
      .add('GET', '/system/info', guarded(info, 'read'), { access: 'public' })
      .add(
        'GET',
        '/system/namespaces',
        guarded(({ res }) => sendJson(res, 200, [OPENFAAS_NAMESPACE]), 'read'),
        { access: 'public' },
      )
      .add('GET', '/system/logs', guarded(logs, 'read'), { access: 'public' });
    for (const method of ['GET', 'POST', 'PUT', 'DELETE'])
      router.add(method, '/system/secrets', guarded(secrets, 'deploy'), { access: 'public' });
  };
}
