// Wires one Nimbus node: store, artifacts, dispatcher, deployer and the gateway's HTTP server.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateToken } from './auth/admin-token.js';
import { Authenticator, redactSecrets } from './auth/authenticate.js';
import { functionKey, revokeFunctionKeys } from './auth/function-keys.js';
import type { KeyStore } from './auth/keys.js';
import { deriveKey, loadMasterKey, Sealer } from './auth/master-key.js';
import { SqliteKeyStore } from './auth/sqlite-key-store.js';
import { adoptLocalKeys } from './cluster/adopt-local-keys.js';
import { adoptLocalSecrets } from './cluster/adopt-local-secrets.js';
import { Cluster } from './cluster/cluster.js';
import { ClusterLogs } from './cluster/cluster-logs.js';
import type { NodeLoad } from './cluster/membership.js';
import { nodesRoutes } from './cluster/routes.js';
import { parseFunctionSpec } from './config/function-spec.js';
import { splitFunctionId } from './config/namespace.js';
import type { PlatformConfig } from './config/platform.js';
import { Deployer } from './dispatch/deployer.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { invokeBuffered } from './dispatch/invoke.js';
import { Namespaces } from './dispatch/namespaces.js';
import { VersionRouter } from './dispatch/versions.js';
import { NimbusError } from './errors.js';
import { createAsyncInvokeHandler } from './gateway/async.js';
import { BodyBudget } from './gateway/body-budget.js';
import { callRoutes } from './gateway/calls-api.js';
import { createControlApi } from './gateway/control-api.js';
import { functionRoutes } from './gateway/functions-api.js';
import { createInvokeHandler } from './gateway/invoke.js';
import { keyRoutes } from './gateway/keys-api.js';
import { lambdaRoutes } from './gateway/lambda/lambda-api.js';
import { namespaceRoutes } from './gateway/namespaces-api.js';
import { openfaasRoutes } from './gateway/openfaas/openfaas-api.js';
import { OpenWhiskApi } from './gateway/openwhisk/openwhisk-api.js';
import { dropUnreadBody, sendError, toNimbusError } from './gateway/respond.js';
import type { RouteInfo } from './gateway/router.js';
import { secretRoutes } from './gateway/secrets-api.js';
import { guardServer } from './gateway/server-guards.js';
import { versionRoutes } from './gateway/versions-api.js';
import { whoamiRoutes } from './gateway/whoami-api.js';
import { Launcher } from './instances/launcher.js';
import { Pool, type PoolEvent } from './instances/pool.js';
import {
  checkListenAddress,
  gatewayUrlForInstances,
  type SandboxSetup,
  setUpSandbox,
} from './instances/sandbox-setup.js';
import { type LogSource, localLogSource } from './logs/log-source.js';
import { LogStore } from './logs/log-store.js';
import { activityRoutes } from './metrics/activity-routes.js';
import { metricsRoutes } from './metrics/routes.js';
import { startTracing, type Tracing } from './observability/tracing.js';
import { AsyncSystem } from './queue/async-system.js';
import { CallbackPolicy } from './queue/callback-policy.js';
import { RUNTIMES } from './runtimes/index.js';
import { NODE_RUNNER_PATH, nodeRuntime } from './runtimes/node/adapter.js';
import { HOST_MAJOR } from './runtimes/node/node-binary.js';
import { linkProvidedPackages } from './runtimes/node/provided-packages.js';
import { platformEnv } from './runtimes/platform-env.js';
import type { SandboxFeatures } from './sandbox/detect.js';
import { createRunDir } from './sandbox/run-dir.js';
import { Autoscaler } from './scaler/autoscaler.js';
import { PoolEviction } from './scaler/eviction.js';
import { Artifacts } from './store/artifacts.js';
import type { NatsBundles } from './store/nats-bundles.js';
import type { SecretStore } from './store/secret-store.js';
import { SqliteSecretStore } from './store/sqlite-secret-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { FunctionVersion, Store } from './store/store.js';
import { SqliteCronState } from './triggers/cron-state.js';
import { TopicTriggers } from './triggers/topics.js';
import { InProcessTopicBus } from './triggers/topics-local.js';
import { NatsTopicBus } from './triggers/topics-nats.js';
import { topicRoutes } from './triggers/topics-routes.js';
import { uiRoutes } from './ui/routes.js';

export interface PlatformLog {
  /** A line a function instance wrote. */
  output(fn: string, instanceId: string, line: string, stream: 'stdout' | 'stderr'): void;
  /** A platform event (instance started, exited, ...). */
  event(event: PoolEvent | { type: string; [key: string]: unknown }): void;
  /** One line per request when `accessLog` is on: when, who, what, status, how long. */
  access?(line: string): void;
  /** The start-up phase beginning now (`nimbus up` shows it as progress). */
  phase?(what: string): void;
}

export interface Platform {
  readonly url: string;
  readonly token: string;
  readonly tokenCreated: boolean;
  readonly config: PlatformConfig;
  readonly deployer: Deployer;
  readonly dispatcher: Dispatcher;
  readonly launcher: Launcher;
  /** Instance isolation in force: `summary` is the line `nimbus up` prints. */
  readonly sandbox: Omit<SandboxSetup, 'sandbox'>;
  readonly autoscaler: Autoscaler;
  readonly artifacts: Artifacts;
  /** Async calls: queue, workers, call records, cron. */
  readonly asyncSystem: AsyncSystem;
  /** Recent output of every function (for /system/logs and Lambda's Tail logs). */
  readonly logs: LogStore;
  /** Access keys (scoped credentials: bearer, Basic, SigV4): SQLite on one node, JetStream KV in a cluster. */
  readonly keys: KeyStore;
  /** The control API's routes (invoke's /function/ and /async-function/ are served before it). */
  readonly routes: readonly RouteInfo[];
  /** Cluster mode: the NATS connection and the shared parts (absent on a single node). */
  readonly cluster: Cluster | undefined;
  /** Spans of calls exported over OTLP (absent when `tracing.otlpEndpoint` is not set). */
  readonly tracing: Tracing | undefined;
  /** Bytes of request bodies held whole right now, across connections (at most `bufferedBodiesMaxBytes`). */
  readonly bufferedBodyBytes: number;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), stops every instance. */
  close(): Promise<void>;
}

/** At shutdown, the last spans get this long to reach the collector. */
const TRACING_CLOSE_WAIT_MS = 5000;

export const INVOKE_PREFIX = '/function/';
export const ASYNC_PREFIX = '/async-function/';
/** A function's own key younger than this is not revoked by a removal that another node made. */
const FUNCTION_KEY_GRACE_MS = 60_000;

/** A function with the default spec: the launch shape most Node functions share. */
const DEFAULT_NODE_SHAPE_FN: FunctionVersion = {
  name: 'stem',
  version: 0,
  bundle: '',
  entry: '',
  spec: parseFunctionSpec({}),
  createdAt: 0,
};

const quietLog: PlatformLog = { output() {}, event() {} };

export interface StartOptions {
  /** For tests: the host's sandbox features as if detected (e.g. without bubblewrap). */
  sandboxFeatures?: SandboxFeatures;
}

export async function startPlatform(
  config: PlatformConfig,
  log: PlatformLog = quietLog,
  options: StartOptions = {},
): Promise<Platform> {
  log.phase?.('opening the data dir');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const { token, created } = loadOrCreateToken(config.dataDir, config.adminToken);
  const masterKey = loadMasterKey(config.dataDir, config.masterKey);
  // Cluster mode: the registry, queue, call records and cron state live in JetStream (docs/cluster.md).
  const cluster = config.cluster
    ? await Cluster.open({
        servers: config.cluster,
        replicas: config.clusterReplicas,
        nodeId: config.nodeId,
        masterKey,
        onEvent: (event) => log.event(event),
      })
    : undefined;
  const store: Store = cluster?.store ?? new SqliteStore(join(config.dataDir, 'nimbus.db'));
  const namespaces = new Namespaces(store);
  const keySealer = new Sealer(deriveKey(masterKey, 'api-keys'));
  const keys: KeyStore = cluster?.keys ?? new SqliteKeyStore(join(config.dataDir, 'nimbus.db'), keySealer);
  // Keys this node made before it joined a cluster move into the cluster's store (once).
  if (cluster) await adoptLocalKeys(join(config.dataDir, 'nimbus.db'), keySealer, cluster.keys, log);
  const secretSealer = new Sealer(deriveKey(masterKey, 'secrets'));
  const secrets: SecretStore =
    cluster?.secrets ?? new SqliteSecretStore(join(config.dataDir, 'nimbus.db'), secretSealer);
  if (cluster) await adoptLocalSecrets(join(config.dataDir, 'nimbus.db'), secretSealer, cluster.secrets, log);
  const auth = new Authenticator(token, keys);
  const logs = new LogStore();
  // /system/logs: this node's lines, or in a cluster every node's (asked over NATS, merged by time).
  const clusterLogs = cluster
    ? new ClusterLogs({
        nc: cluster.nc,
        nodeId: cluster.nodeId,
        local: logs,
        otherNodes: () => cluster.membership?.list().filter((n) => n.alive && !n.self).length,
      })
    : undefined;
  const logSource: LogSource = clusterLogs ?? localLogSource(logs);
  let bundles: NatsBundles | undefined;
  const artifacts = new Artifacts(config.dataDir, {
    maxUnpackedBytes: config.bundleMaxUnpackedBytes,
    ...(cluster ? { onStored: (hash: string) => bundles!.publish(hash) } : {}),
  });
  if (cluster) bundles = await cluster.openBundles(artifacts);
  const tracing = await startTracing(config, (event) => log.event(event));
  const dispatcher = new Dispatcher(store, tracing);
  // Sockets live under a short private path (Unix socket paths are limited to ~107 bytes), private to
  // this user; run dirs of gateways that died are swept first.
  const runDir = createRunDir().dir;
  // Functions without bubblewrap's /node_modules bind find the AWS SDK Nimbus provides in an ancestor of
  // their code: loaded in place (<dataDir>/bundles/<hash>) or staged for a runAs user (<runDir>/<id>/fn).
  // Not in the bundle store itself, which holds content-addressed bundles only.
  for (const dir of [config.dataDir, runDir]) linkProvidedPackages(dir);
  let sandbox: SandboxSetup;
  log.phase?.('checking what isolation this host offers');
  try {
    sandbox = await setUpSandbox({
      mode: config.sandbox,
      runAs: config.sandboxRunAs,
      cgroupParent: config.cgroupParent,
      runDir,
      requiredPaths: [process.execPath, NODE_RUNNER_PATH],
      ...(options.sandboxFeatures ? { features: options.sandboxFeatures } : {}),
    });
    checkListenAddress(sandbox, config.host);
  } catch (err) {
    keys.close();
    secrets.close();
    store.close();
    await cluster?.close();
    await tracing?.close(0);
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  }
  log.event({ type: 'sandbox', summary: sandbox.summary });
  const launcher = new Launcher({
    runDir,
    sandbox: sandbox.sandbox,
    onEvent: (event) => log.event(event),
    startTimeoutMs: config.startTimeoutMs,
    maxConcurrentStarts: config.maxConcurrentStarts ?? Math.max(2, 2 * availableParallelism()),
    memoryBudgetMb: config.memoryBudgetMb,
    stemCells: config.stemCells,
    evictable: new PoolEviction(() => dispatcher.pools()),
    onOutput: (fn, id, line, stream, callId) => {
      logs.append(fn, id, line, stream, callId);
      log.output(fn, id, line, stream);
    },
    onError: (message) => log.event({ type: 'stem-cell-error', message }),
  });

  const runtimeOptions = {
    debug: config.debug,
    python: config.python,
    nodeVersionFallback: config.nodeVersionFallback,
    ...(config.nodeBinaries ? { nodeBinaries: config.nodeBinaries } : {}),
  };
  const makePool = (fn: FunctionVersion): Pool => {
    const runtime = RUNTIMES[fn.spec.runtime];
    if (!runtime)
      throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [`runtime "${fn.spec.runtime}" is not supported`]);
    const launch = runtime.launch(fn, artifacts.path(fn.bundle), runtimeOptions);
    const env = platformEnv({
      fn,
      gatewayUrl: gatewayUrlForInstances(url, sandbox.isolation),
      key: functionKey(keys, fn.name),
      region: config.awsRegion,
      nodeMajor: fn.spec.nodeVersion ?? HOST_MAJOR,
    });
    launch.load = { ...launch.load, env: { ...env, ...launch.load.env } };
    const secretNames = fn.spec.secrets ?? [];
    const secretsNamespace = splitFunctionId(fn.name).namespace;
    if (secretNames.length > 0) launch.secrets = () => secrets.values(secretsNamespace, secretNames);
    return new Pool({
      name: fn.name,
      version: fn.version,
      concurrency: fn.spec.concurrency ?? ((style) => runtime.defaultConcurrency?.(style) ?? 1),
      minInstances: fn.spec.scale.min,
      maxInstances: fn.spec.scale.max,
      maxQueue: fn.spec.maxQueue,
      timeoutMs: fn.spec.timeoutMs,
      onCall: dispatcher.callCounter(fn.name),
      onEvent: (event) => log.event(event),
      startInstance: () => {
        // Within the namespace's quotas (instances, memory), held until the instance has ended.
        const release = namespaces.admitInstance(fn.name, fn.spec.memoryMb);
        try {
          const started = launcher.start(fn.name, fn.spec, launch);
          void started.instance.whenClosed.finally(release);
          return started;
        } catch (err) {
          release();
          throw err;
        }
      },
    });
  };

  const deployer = new Deployer({
    store,
    artifacts,
    dispatcher,
    makePool,
    checkRuntime: async (fn) => {
      RUNTIMES[fn.spec.runtime]?.check?.(fn, runtimeOptions);
      const namespace = splitFunctionId(fn.name).namespace;
      const names = fn.spec.secrets ?? [];
      // A secret made through another node a moment ago: this node catches up before it says there is none.
      if (!names.every((name) => secrets.has(namespace, name))) await secrets.caughtUp?.();
      secrets.assertExist(namespace, names);
    },
    onRemoved: async (id, where, existed) => {
      // Removed through this node: every key of the function. Another node's removal (which revoked them
      // there) or a retried one: only keys older than a grace period, never those of a function deployed
      // again under the same name meanwhile.
      revokeFunctionKeys(
        keys,
        id,
        where === 'here' && existed ? undefined : Date.now() - FUNCTION_KEY_GRACE_MS,
      );
      versions.changed(id);
      await keys.sync().catch((err: unknown) => {
        log.event({ type: 'function-key-revoke-failed', name: id, error: (err as Error).message });
      });
    },
    ...(bundles ? { bundles, onEvent: (event) => log.event(event) } : {}),
  });
  const versions = new VersionRouter({ store, dispatcher, makePool });
  // A cluster's aliases are shared: one changed on another node routes here too.
  store.onAliasChange?.((id) => versions.changed(id));
  let listening: AddressInfo | undefined;
  const callbackPolicy = new CallbackPolicy({ allow: config.callbackAllow, gateway: () => listening });
  const asyncSystem = new AsyncSystem({
    file: join(config.dataDir, 'nimbus.db'),
    dispatcher,
    config,
    callbackPolicy,
    onEvent: (event) => log.event(event),
    ...(cluster
      ? {
          backend: {
            queue: cluster.queue,
            calls: cluster.calls,
            cronState: cluster.cronState,
            cronClaim: (fn: string, slot: number) => cluster.cronClaims.claim(fn, slot),
            onTopic: (listener: (topic: string) => void) => cluster.queue.onTopic(listener),
          },
        }
      : {}),
  });
  // Topic triggers: over NATS in a cluster; in-process on a single node (said once, below).
  const topicBus = cluster ? new NatsTopicBus(cluster.nc) : new InProcessTopicBus();
  const topics = new TopicTriggers({
    bus: topicBus,
    functions: () => [...dispatcher.entries()].map((e) => ({ name: e.fn.name, spec: e.fn.spec })),
    invoke: async (fn, message) => {
      const res = await invokeBuffered(
        dispatcher,
        fn,
        {
          method: 'POST',
          path: '/',
          headers: [...message.headers, ['x-nimbus-topic', message.subject]],
          body: message.data,
        },
        { span: { name: `topic ${fn}`, kind: 'consumer', attributes: { 'faas.trigger': 'pubsub' } } },
      );
      return { status: res.status, body: res.body };
    },
    submit: (fn, message) =>
      asyncSystem.submit({
        fn,
        method: 'POST',
        path: '/',
        headers: [...message.headers, ['x-nimbus-topic', message.subject]],
        body: message.data,
        source: 'topic',
      }),
    onEvent: (event) => log.event(event),
  });
  // A deploy or removal changes the subscriptions at once: a message published right after a deploy's
  // answer reaches the function (the periodic sync catches what other nodes changed).
  dispatcher.onChange(() => topics.sync());
  const autoscaler = new Autoscaler(dispatcher, config.autoscaler);
  autoscaler.start();
  // Keep stem cells of the default Node runtime ready: the first cold start is a module load too.
  launcher.prewarm(
    nodeRuntime.launch(DEFAULT_NODE_SHAPE_FN, '', { debug: config.debug }),
    DEFAULT_NODE_SHAPE_FN.spec,
  );

  let url = '';
  const startedAt = Date.now();
  const nodeLoad = (): NodeLoad => {
    const load = { inflight: 0, queued: 0, instances: 0, asyncRunning: 0, rssMb: 0 };
    for (const { pool } of dispatcher.entries()) {
      const stats = pool.stats();
      load.inflight += stats.inflight;
      load.queued += stats.queued;
      load.instances += stats.instances;
    }
    for (const running of asyncSystem.workers.running().values()) load.asyncRunning += running;
    load.rssMb = Math.round(process.memoryUsage.rss() / 1024 / 1024);
    return load;
  };
  const invoke = createInvokeHandler(
    {
      dispatcher,
      bodyLimitBytes: config.bodyLimitBytes,
      debug: config.debug,
      auth,
      namespaces,
      versions,
    },
    INVOKE_PREFIX,
  );
  // Bodies read whole (async calls, OpenWhisk, Lambda API) share one budget across connections.
  const bodies = new BodyBudget(config.bufferedBodiesMaxBytes);
  const asyncInvoke = createAsyncInvokeHandler(
    {
      dispatcher,
      submit: (request) => asyncSystem.submit(request),
      bodyLimitBytes: config.asyncBodyLimitBytes,
      debug: config.debug,
      auth,
      namespaces,
      versions,
      callbackPolicy,
      bodies,
    },
    ASYNC_PREFIX,
  );
  const onInternalError = (error: NimbusError, req: IncomingMessage): void => {
    const cause = error.cause as { stack?: string } | undefined;
    log.event({
      type: 'internal-error',
      message: error.message,
      request: `${req.method} ${redactSecrets(req.url ?? '').slice(0, 200)}`,
      stack: cause?.stack ?? String(error.cause),
    });
  };
  const openwhisk = new OpenWhiskApi({
    file: join(config.dataDir, 'nimbus.db'),
    store,
    artifacts,
    dispatcher,
    deployer,
    logs,
    auth,
    submit: (request) => asyncSystem.submit(request),
    onSettled: (listener) => asyncSystem.onSettled(listener),
    cronState: new SqliteCronState(asyncSystem.commit),
    namespaces,
    retentionMs: config.callRetentionMs,
    onInternalError,
    onEvent: (event) => log.event(event),
    bodies,
  });
  const control = createControlApi({
    debug: config.debug,
    auth,
    onInternalError,
    routes: [
      functionRoutes({
        store,
        artifacts,
        dispatcher,
        deployer,
        baseUrl: () => url,
        extraView: (fn) => ({ ...asyncSystem.view(fn), scaling: autoscaler.view(fn.name) ?? null }),
      }),
      versionRoutes({
        store,
        artifacts,
        dispatcher,
        deployer,
        baseUrl: () => url,
        onAliasesChanged: (id) => versions.changed(id),
      }),
      namespaceRoutes(namespaces, keys, secrets),
      metricsRoutes({ dispatcher, launcher }),
      topicRoutes(() => topicBus),
      nodesRoutes({
        nodes: () => cluster?.membership?.list(),
        self: () => ({ id: 'local', url, startedAt, load: nodeLoad() }),
      }),
      // The dashboard (/ui) and what it reads besides the API above: call activity, the credential's scope.
      activityRoutes({ store, dispatcher }),
      whoamiRoutes(auth),
      uiRoutes(),
      callRoutes(asyncSystem),
      keyRoutes(keys, namespaces),
      secretRoutes({ secrets, store }),
      openfaasRoutes({
        store,
        artifacts,
        dispatcher,
        deployer,
        logs,
        logSource,
        auth,
        namespaces,
        keys,
        secrets,
        manualScaleHoldMs: config.autoscaler.stableWindowMs,
      }),
      lambdaRoutes({
        store,
        artifacts,
        dispatcher,
        deployer,
        logs,
        keys,
        versions,
        submit: (request) => asyncSystem.submit(request),
        asyncBodyLimitBytes: config.asyncBodyLimitBytes,
        bodies,
      }),
      (router) => openwhisk.routes(router),
    ],
  });

  const accessLog = config.accessLog ? log.access?.bind(log) : undefined;
  let closing = false;
  let inflight = 0;
  let idle: (() => void) | undefined;
  // One function for every response ('close' comes once): no closure or once-wrapper per request.
  const onResponseClose = (): void => {
    if (--inflight === 0) idle?.();
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (closing) {
      res.setHeader('connection', 'close');
      sendError(res, new NimbusError('ERR_PLATFORM_SHUTTING_DOWN'), false);
      req.resume();
      return;
    }
    inflight++;
    res.on('close', onResponseClose);
    if (accessLog) logAccess(req, res, accessLog);
    // The last boundary: a throw that escaped a route's own handling answers 500, never ends the process.
    try {
      if (req.url!.startsWith(INVOKE_PREFIX)) invoke(req, res, INVOKE_PREFIX.length);
      else if (req.url!.startsWith(ASYNC_PREFIX)) asyncInvoke(req, res, ASYNC_PREFIX.length);
      else control.handle(req, res);
    } catch (err) {
      const error = toNimbusError(err);
      if (!(err instanceof NimbusError)) onInternalError(error, req);
      dropUnreadBody(req, res);
      sendError(res, error, config.debug);
    }
  };

  log.phase?.(`listening on ${config.host}:${config.port}`);
  const server: Server = createServer({ keepAliveTimeout: 65_000 }, onRequest);
  guardServer(server, onRequest);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // Nothing may be left running behind the error (timers, stem cells, open files): the process can end.
    autoscaler.close();
    await launcher.close();
    await topics.close();
    openwhisk.close();
    asyncSystem.close();
    keys.close();
    secrets.close();
    store.close();
    clusterLogs?.close();
    await cluster?.close();
    rmSync(runDir, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new NimbusError('ERR_PLATFORM_LISTEN', [config.host, config.port, code], { cause: err });
  }
  // Sandboxes reach the gateway through this socket (bound into each; see gatewayUrlForInstances): it is
  // up before any instance starts. Only the run directory guards it (0700, or 0710 for the sandbox's user).
  const socketServer = sandbox.gatewaySocketPath
    ? createServer({ keepAliveTimeout: 65_000 }, onRequest)
    : null;
  if (socketServer) {
    guardServer(socketServer, onRequest);
    await new Promise<void>((resolve, reject) => {
      socketServer.once('error', reject);
      socketServer.listen(sandbox.gatewaySocketPath, () => {
        socketServer.off('error', reject);
        resolve();
      });
    });
    chmodSync(sandbox.gatewaySocketPath!, 0o666);
  }
  const address = server.address() as AddressInfo;
  listening = address;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;
  // Pools take the gateway's URL into their instances' environment: restored once it is known.
  log.phase?.('restoring the deployed functions');
  deployer.restore();
  asyncSystem.start();
  openwhisk.start();
  await cluster?.join(() => url, nodeLoad);
  topics.start();
  log.event({
    type: 'topics',
    bus: topicBus.kind,
    summary:
      topicBus.kind === 'nats'
        ? 'topics: over NATS (queue groups; subjects on a JetStream stream are queued durably)'
        : 'topics: in-process (no NATS: messages reach this node only and are not durable)',
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      // Workers stop taking calls; those in flight end within the dispatcher's grace period.
      const asyncStopped = asyncSystem.stop(config.shutdownGraceMs + 5000);
      openwhisk.stop();
      const serverClosed = Promise.all(
        [server, socketServer].map((s) => s && new Promise<void>((resolve) => s.close(() => resolve()))),
      );
      server.closeIdleConnections();
      socketServer?.closeIdleConnections();
      const grace = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.shutdownGraceMs);
        timer.unref();
        if (inflight === 0) resolve();
        idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      autoscaler.close();
      await topics.close();
      // Followers of /system/logs would hold the server open: their responses end now.
      clusterLogs?.close();
      logs.close();
      await Promise.all([grace, dispatcher.close(config.shutdownGraceMs), launcher.close()]);
      server.closeAllConnections();
      socketServer?.closeAllConnections();
      await serverClosed;
      await asyncStopped;
      openwhisk.close();
      asyncSystem.close();
      keys.close();
      secrets.close();
      store.close();
      await cluster?.close();
      // The spans of the last calls go out, however long the collector takes, within a bound.
      await tracing?.close(TRACING_CLOSE_WAIT_MS);
      rmSync(runDir, { recursive: true, force: true });
    })();
    return closed;
  };

  return {
    get url() {
      return url;
    },
    token,
    tokenCreated: created,
    config,
    deployer,
    dispatcher,
    artifacts,
    asyncSystem,
    logs,
    keys,
    routes: control.routes,
    cluster,
    tracing,
    launcher,
    sandbox: {
      summary: sandbox.summary,
      features: sandbox.features,
      runAs: sandbox.runAs,
      isolation: sandbox.isolation,
      gatewaySocketPath: sandbox.gatewaySocketPath,
    },
    autoscaler,
    get bufferedBodyBytes() {
      return bodies.heldBytes;
    },
    close,
  };
}

/** `2026-11-27T23:40:00.123Z 127.0.0.1 "GET /function/hello" 200 1.2ms` once the response is done (`-` when cut off). */
function logAccess(req: IncomingMessage, res: ServerResponse, write: (line: string) => void): void {
  const startedAt = performance.now();
  const at = new Date().toISOString();
  res.once('close', () => {
    const status = res.writableFinished ? String(res.statusCode) : '-';
    const ms = (performance.now() - startedAt).toFixed(1);
    // A key may ride in the query (Azure's `code=`): the log never holds it.
    const target = redactSecrets(req.url ?? '');
    write(`${at} ${req.socket.remoteAddress ?? '-'} "${req.method} ${target}" ${status} ${ms}ms`);
  });
}
