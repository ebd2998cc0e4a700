// The OpenFaaS gateway's /system/* API as faas-cli calls it: functions (list, deploy, update, remove,
// describe, scale), info, namespaces, secrets (the secrets store, sealed at rest) and logs (NDJSON,
// tail/since/follow).
// Basic auth (admin / the admin token) or the bearer token; answers and errors in OpenFaaS's own shape
// (JSON bodies, plain-text errors). Deploys go through the Deployer, as the native API's do.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { type Access, type Authenticator, allows } from '../../auth/authenticate.js';
import type { KeyStore } from '../../auth/keys.js';
import { acknowledged } from '../../cluster/pending-writes.js';
import { assertFunctionName } from '../../config/function-spec.js';
import type { NamespaceRecord } from '../../config/namespace.js';
import { DEFAULT_NAMESPACE, functionId, splitFunctionId } from '../../config/namespace.js';
import type { Deployer } from '../../dispatch/deployer.js';
import type { Dispatcher } from '../../dispatch/dispatcher.js';
import type { Namespaces } from '../../dispatch/namespaces.js';
import { NimbusError } from '../../errors.js';
import type { LogFilter, LogLine, LogSource } from '../../logs/log-source.js';
import type { LogStore } from '../../logs/log-store.js';
import type { Artifacts } from '../../store/artifacts.js';
import type { SecretStore } from '../../store/secret-store.js';
import type { Store } from '../../store/store.js';
import { authorize, readJson } from '../control-api.js';
import { sees } from '../functions-api.js';
import { assertNamespaceName, removeNamespace } from '../namespaces-api.js';
import { cutShort, dropUnreadBody, toNimbusError } from '../respond.js';
import type { ControlContext, Router } from '../router.js';
import { knownSecret, removeSecret } from '../secrets-api.js';
import {
  deploymentService,
  deploymentToDeploy,
  existingNamespace,
  type FunctionDeployment,
  functionStatus,
  openfaasName,
  openfaasNamespaceName,
  stringMap,
} from './deployment.js';

export interface OpenFaaSApiDeps {
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  deployer: Deployer;
  logs: LogStore;
  /** What /system/logs reads: this node's lines, or in a cluster every node's. */
  logSource: LogSource;
  auth: Authenticator;
  namespaces: Namespaces;
  secrets: SecretStore;
  keys: KeyStore;
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
    cutShort(res);
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
          // Who the caller is, now; each handler checks `access` in the namespace the request names.
          authorize(deps.auth, req, access, null);
          return handler(ctx);
        })
        .catch((err: unknown) => {
          dropUnreadBody(req, res);
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

  /** The namespace a request names, once its credential may do `access` there (and to `fn`, when given). */
  const permitted = (ctx: ControlContext, access: Access, value: unknown, fn?: string): string => {
    // Whether the credential reaches the namespace comes first: one it does not reach is refused alike,
    // whether it exists or not.
    const namespace = openfaasNamespaceName(value);
    authorize(deps.auth, ctx.req, access, namespace, fn);
    return existingNamespace(namespace, store);
  };

  const listFunctions: Handler = (ctx) => {
    const namespace = permitted(ctx, 'read', ctx.url.searchParams.get('namespace'));
    const principal = deps.auth.principal(ctx.req);
    const functions = store
      .listFunctions()
      .filter((fn) => splitFunctionId(fn.name).namespace === namespace && sees(principal, fn.name));
    sendJson(
      ctx.res,
      200,
      functions.map((fn) => functionStatus(fn, dispatcher)),
    );
  };

  const getFunction: Handler = (ctx) => {
    const name = ctx.params.name!;
    assertFunctionName(name);
    const namespace = permitted(ctx, 'read', ctx.url.searchParams.get('namespace'), name);
    const fn = store.getFunction(functionId(namespace, name));
    if (!fn) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
    sendJson(ctx.res, 200, functionStatus(fn, dispatcher));
  };

  const deploy =
    (update: boolean): Handler =>
    async (ctx) => {
      const body = (await readJson(ctx.req)) as FunctionDeployment;
      const service = deploymentService(body);
      assertFunctionName(service);
      // One namespace, the body's else the query's, is both the one authorized and the one deployed to;
      // nothing of the image is looked up before the caller is known to may deploy there.
      const namespace = permitted(
        ctx,
        'deploy',
        body.namespace ?? ctx.url.searchParams.get('namespace'),
        service,
      );
      const principal = deps.auth.principal(ctx.req);
      const request = deploymentToDeploy(body, namespace, store, deps.artifacts, (fn) =>
        sees(principal, fn.name),
      );
      // faas-cli updates first (PUT) and creates (POST) when the update answers 404.
      if (update && !store.getFunction(functionId(request.namespace ?? DEFAULT_NAMESPACE, request.name)))
        throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [request.name.slice(0, 80)]);
      await deployer.deploy(request);
      ctx.res.writeHead(update ? 200 : 202).end();
    };

  const deleteFunction: Handler = async (ctx) => {
    const body = (await readJson(ctx.req)) as { functionName?: unknown; namespace?: unknown };
    if (typeof body.functionName !== 'string' || body.functionName === '')
      throw new NimbusError('ERR_REQUEST_INVALID', ['"functionName" is required']);
    assertFunctionName(body.functionName);
    const namespace = permitted(
      ctx,
      'deploy',
      body.namespace ?? ctx.url.searchParams.get('namespace'),
      body.functionName,
    );
    const id = functionId(namespace, body.functionName);
    if (!(await deployer.remove(id))) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [body.functionName]);
    deps.logs.forget(id);
    ctx.res.writeHead(200).end();
  };

  const scaleFunction: Handler = async (ctx) => {
    const { req, res, params } = ctx;
    const body = (await readJson(req)) as { serviceName?: unknown; namespace?: unknown; replicas?: unknown };
    assertFunctionName(params.name!);
    const namespace = permitted(ctx, 'deploy', body.namespace, params.name);
    const entry = dispatcher.get(functionId(namespace, params.name!));
    if (!entry) throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [params.name!]);
    const replicas = Number(body.replicas);
    if (!Number.isInteger(replicas) || replicas < 0)
      throw new NimbusError('ERR_REQUEST_INVALID', ['"replicas" must be a whole number ≥ 0']);
    // Moves the pool now, within scale.min..scale.max, and holds the count for the autoscaler's stable
    // window: its next tick would otherwise undo it.
    entry.pool.pinReplicas(replicas, deps.manualScaleHoldMs);
    res.writeHead(202).end();
  };

  // Namespaces in OpenFaaS's shapes: a list of names, and FunctionNamespace {name, labels, annotations}.
  const namespaceView = (ns: NamespaceRecord) => ({
    name: openfaasName(ns.name),
    labels: ns.labels,
    annotations: ns.annotations,
  });

  const listNamespaces: Handler = ({ req, res }) => {
    const principal = deps.auth.principal(req);
    const visible = deps.namespaces.list().filter((ns) => principal && allows(principal, 'read', ns.name));
    sendJson(
      res,
      200,
      visible.map((ns) => openfaasName(ns.name)),
    );
  };

  const getNamespace: Handler = (ctx) => {
    const namespace = permitted(ctx, 'read', ctx.params.name);
    sendJson(ctx.res, 200, namespaceView(deps.namespaces.get(namespace)!));
  };

  const namespaceBody = async (ctx: ControlContext) => {
    const body = (await readJson(ctx.req)) as { name?: unknown; labels?: unknown; annotations?: unknown };
    return {
      name: body.name,
      labels: stringMap(body.labels, 'labels'),
      annotations: stringMap(body.annotations, 'annotations'),
    };
  };

  const createNamespace: Handler = async (ctx) => {
    const { name, labels, annotations } = await namespaceBody(ctx);
    if (typeof name !== 'string') throw new NimbusError('ERR_REQUEST_INVALID', ['"name" is required']);
    assertNamespaceName(name);
    if (deps.namespaces.get(name)) throw new NimbusError('ERR_NAMESPACE_EXISTS', [name]);
    deps.namespaces.put(name, { labels, annotations });
    await deps.namespaces.sync(name);
    ctx.res.writeHead(201).end();
  };

  const updateNamespace: Handler = async (ctx) => {
    const namespace = permitted(ctx, 'admin', ctx.params.name);
    const { labels, annotations } = await namespaceBody(ctx);
    deps.namespaces.put(namespace, { labels, annotations });
    await deps.namespaces.sync(namespace);
    ctx.res.writeHead(202).end();
  };

  const deleteNamespace: Handler = async (ctx) => {
    const namespace = permitted(ctx, 'admin', ctx.params.name);
    removeNamespace(deps.namespaces, deps.keys, namespace, deps.secrets);
    await deps.namespaces.sync(namespace);
    await acknowledged(() => deps.secrets.sync(), `the secrets of namespace ${namespace}`);
    ctx.res.writeHead(202).end();
  };

  const info: Handler = ({ res }) => {
    const version = { sha: '', release: RELEASE, commit_message: '' };
    sendJson(res, 200, {
      provider: { provider: 'nimbus', orchestration: 'nimbus', version },
      version,
      arch: process.arch === 'arm64' ? 'arm64' : 'x86_64',
    });
  };

  const listSecrets: Handler = (ctx) => {
    const namespace = permitted(ctx, 'deploy', ctx.url.searchParams.get('namespace'));
    sendJson(
      ctx.res,
      200,
      deps.secrets.list(namespace).map((s) => ({ name: s.name, namespace: openfaasName(namespace) })),
    );
  };

  /** POST creates (201, 409 when it exists), PUT updates (200, 404 when it does not): faas-provider's Secret. */
  const writeSecret =
    (update: boolean): Handler =>
    async (ctx) => {
      const body = await readJson(ctx.req);
      const { name, value } = openfaasSecret(body, true);
      const asked = (body as { namespace?: unknown }).namespace || ctx.url.searchParams.get('namespace');
      const namespace = permitted(ctx, 'deploy', asked);
      if (update) {
        await knownSecret(deps.secrets, namespace, name);
        deps.secrets.update(namespace, name, value!);
      } else deps.secrets.create(namespace, name, value!);
      await acknowledged(() => deps.secrets.sync(), `secret ${name}`);
      ctx.res.writeHead(update ? 200 : 201).end();
    };

  const deleteSecret: Handler = async (ctx) => {
    const body = await readJson(ctx.req);
    const { name } = openfaasSecret(body, false);
    const asked = (body as { namespace?: unknown }).namespace || ctx.url.searchParams.get('namespace');
    await removeSecret({ secrets: deps.secrets, store }, permitted(ctx, 'deploy', asked), name);
    ctx.res.writeHead(200).end();
  };

  const logs: Handler = async (ctx) => {
    const { req, res, url } = ctx;
    const q = url.searchParams;
    const short = q.get('name') ?? '';
    if (short === '') throw new NimbusError('ERR_REQUEST_INVALID', ['"name" is required']);
    assertFunctionName(short);
    const namespace = permitted(ctx, 'read', q.get('namespace'), short);
    const name = functionId(namespace, short);
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
    const source = deps.logSource;
    if (!store.getFunction(name) && (await source.query(name, { tail: 1 })).length === 0)
      throw new NimbusError('ERR_FUNCTION_NOT_FOUND', [short.slice(0, 80)]);
    const filter: LogFilter = {
      ...(tail !== undefined && tail >= 0 ? { tail } : {}),
      ...(sinceMs !== undefined ? { sinceMs } : {}),
      ...(instance ? { instance } : {}),
    };
    const text = (lines: LogLine[]) =>
      lines
        .map(
          (e) =>
            `${JSON.stringify({
              name: short,
              namespace: openfaasName(namespace),
              instance: e.instance,
              timestamp: new Date(e.time).toISOString(),
              text: e.text,
              ...(e.callId === undefined ? {} : { callId: e.callId }),
            })}\n`,
        )
        .join('');
    if (!follow) {
      const past = await source.query(name, filter);
      res
        .writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' })
        .end(text(past));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const stop = source.follow(
      name,
      filter,
      (lines) => {
        const chunk = text(lines);
        if (chunk !== '' && !res.writableEnded) res.write(chunk);
      },
      () => res.end(),
    );
    res.once('close', stop);
    req.resume();
  };

  // OpenFaaS's own schemes (Basic admin, bearer) are checked by `guarded`, not by the control API.
  const compat = { access: 'public', compat: 'openfaas' } as const;
  return (router) => {
    router
      .add('GET', '/system/functions', guarded(listFunctions, 'read'), compat)
      .add('POST', '/system/functions', guarded(deploy(false), 'deploy'), compat)
      .add('PUT', '/system/functions', guarded(deploy(true), 'deploy'), compat)
      .add('DELETE', '/system/functions', guarded(deleteFunction, 'deploy'), compat)
      .add('GET', '/system/function/:name', guarded(getFunction, 'read'), compat)
      .add('POST', '/system/scale-function/:name', guarded(scaleFunction, 'deploy'), compat)
      .add('GET', '/system/info', guarded(info, 'read'), compat)
      .add('GET', '/system/namespaces', guarded(listNamespaces, 'read'), compat)
      .add('POST', '/system/namespace/', guarded(createNamespace, 'admin'), compat)
      .add('GET', '/system/namespace/:name', guarded(getNamespace, 'read'), compat)
      .add('PUT', '/system/namespace/:name', guarded(updateNamespace, 'admin'), compat)
      .add('DELETE', '/system/namespace/:name', guarded(deleteNamespace, 'admin'), compat)
      .add('GET', '/system/logs', guarded(logs, 'read'), compat);
    router
      .add('GET', '/system/secrets', guarded(listSecrets, 'deploy'), compat)
      .add('POST', '/system/secrets', guarded(writeSecret(false), 'deploy'), compat)
      .add('PUT', '/system/secrets', guarded(writeSecret(true), 'deploy'), compat)
      .add('DELETE', '/system/secrets', guarded(deleteSecret, 'deploy'), compat);
  };
}

/**
 * faas-provider's Secret: `{name, namespace?, value?, rawValue?}`, `rawValue` being Go's []byte (base64) and
 * winning over `value` as in faas-netes. `withValue`: one of them is required.
 */
function openfaasSecret(body: unknown, withValue: boolean): { name: string; value: Buffer | undefined } {
  const b = body as { name?: unknown; value?: unknown; rawValue?: unknown };
  if (typeof b.name !== 'string' || b.name === '')
    throw new NimbusError('ERR_REQUEST_INVALID', ['"name" (the secret\'s name) is required']);
  if (!withValue) return { name: b.name, value: undefined };
  if (typeof b.rawValue === 'string' && b.rawValue !== '') {
    if (!BASE64_RE.test(b.rawValue))
      throw new NimbusError('ERR_SECRET_INVALID', ['"rawValue" must be base64 (Go\'s []byte)']);
    return { name: b.name, value: Buffer.from(b.rawValue, 'base64') };
  }
  if (typeof b.value === 'string') return { name: b.name, value: Buffer.from(b.value, 'utf8') };
  throw new NimbusError('ERR_SECRET_INVALID', ['give the value as "value" (text) or "rawValue" (base64)']);
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
