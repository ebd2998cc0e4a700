// The platform config: defaults < config file < environment (NIMBUS_*) < flags, validated once and frozen.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { NimbusError } from '../errors.js';
import { formatZodIssues } from './function-spec.js';

export const platformConfigSchema = z.strictObject({
  /** Address the gateway listens on. Default 127.0.0.1. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port the gateway listens on; 0 picks a free one. Default 8080. */
  port: z.number().int().min(0).max(65_535).default(8080),
  /** Data directory (SQLite file, bundles, admin token). Default `.nimbus` in the working directory. */
  dataDir: z.string().min(1).default('.nimbus'),
  /**
   * Largest unpacked size of one bundle in bytes (tar upload, Lambda zip): past it the upload is refused
   * with ERR_BUNDLE_TOO_LARGE before the rest is written. Default 250 MiB (Lambda's limit).
   */
  bundleMaxUnpackedBytes: z
    .number()
    .int()
    .min(1024)
    .default(250 * 1024 * 1024),
  /** Largest synchronous request body in bytes. Default 6 MiB (Lambda's). */
  bodyLimitBytes: z
    .number()
    .int()
    .min(1)
    .default(6 * 1024 * 1024),
  /** On SIGINT/SIGTERM, in-flight requests get this long to finish. Default 10 s. */
  shutdownGraceMs: z.number().int().min(0).default(10_000),
  /** Admin token for the control API; generated and stored in the data dir when absent. */
  adminToken: z.string().min(16).optional(),
  /**
   * Master key (base64 of 32 bytes) that seals access-key secrets and the secrets store; generated into the
   * data dir (`master-key`, mode 0600) when absent. Every node of a cluster needs the same one.
   */
  masterKey: z.string().optional(),
  /** Include handler stack traces in error responses. Default false. */
  debug: z.boolean().default(false),
  /** A folder of function folders deployed at start (used by `npm start` for examples/). */
  examplesDir: z.string().optional(),
  /** How long an instance may take to start and load its function (once its start began). Default 10 s. */
  startTimeoutMs: z.number().int().min(100).default(10_000),
  /**
   * Instance processes starting at once, stem cells included; more wait their turn (requests' starts before
   * stem cells). Default: twice the cores this process may use, at least 2.
   */
  maxConcurrentStarts: z.number().int().min(1).max(1024).optional(),
  /** Print one line per request to stderr. Default false. */
  accessLog: z.boolean().default(false),
  /**
   * The AWS region functions see (`AWS_REGION`, `AWS_DEFAULT_REGION`, their context's ARN): what an AWS SDK in
   * a function signs with when it calls Nimbus's Lambda API. Default us-east-1.
   */
  awsRegion: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/, 'must be a region name such as us-east-1')
    .default('us-east-1'),
  /** Interpreter of `runtime: python` functions: a command on the instances' PATH or an absolute path. Default python3. */
  python: z.string().min(1).default('python3'),
  /**
   * Node binaries by major, for functions whose `nodeVersion` (Lambda's nodejs22.x) is not the platform's
   * own: `{22: /opt/node22/bin/node}`. Without an entry the usual install places are searched (docs/runtimes.md).
   */
  nodeBinaries: z
    .record(z.string().regex(/^\d+$/, 'must be a Node.js major such as 22'), z.string().startsWith('/'))
    .optional(),
  /** A function asking for a Node major the host lacks: `refuse` the deploy, or run it on the platform's `host` node. Default refuse. */
  nodeVersionFallback: z.enum(['refuse', 'host']).default('refuse'),
  /** The memoryMb of all instances and stem cells may not pass this. Default: half the machine's RAM. */
  memoryBudgetMb: z
    .number()
    .int()
    .min(32)
    .default(() => Math.floor(totalmem() / 1024 / 1024 / 2)),
  /**
   * Instance isolation (docs/security.md). `auto`: bubblewrap, cgroups and seccomp where the host has
   * them, plain processes where not (said once at start); `required`: refuse to start without
   * bubblewrap; `off`: plain processes, no limits but the V8 heap. Default auto.
   */
  sandbox: z.enum(['auto', 'required', 'off']).default('auto'),
  /**
   * Host user instances run as, for a root platform: `auto` (nobody, 65534, where unprivileged user
   * namespaces work), `off` (the platform's own user), or `uid` / `uid:gid`. Default auto.
   */
  sandboxRunAs: z
    .union([z.enum(['auto', 'off']), z.string().regex(/^\d+(:\d+)?$/, 'must be auto, off, uid or uid:gid')])
    .default('auto'),
  /** cgroup v2 only: the delegated cgroup instance cgroups are created in (see docs/security.md). */
  cgroupParent: z.string().startsWith('/').optional(),
  /** Prewarmed generic runners per runtime shape. `min: 0` turns them off. */
  stemCells: z
    .strictObject({
      min: z.number().int().min(0).max(16).default(1),
      max: z.number().int().min(0).max(64).default(4),
    })
    .prefault({}),
  /** The autoscaler (Knative KPA style); see docs/scaling.md. */
  autoscaler: z
    .strictObject({
      tickMs: z.number().int().min(10).default(500),
      stableWindowMs: z.number().int().min(100).default(60_000),
      panicWindowMs: z.number().int().min(50).default(6_000),
      panicThreshold: z.number().min(1).default(2),
      maxScaleUpRate: z.number().min(1).default(1000),
      maxScaleDownRate: z.number().min(1).default(2),
      keepAlive: z.enum(['fixed', 'hybrid']).default('fixed'),
      /** Width of the hybrid policy's idle-time bins (the histogram spans 240 of them). Paper: 1 minute. */
      keepAliveBinMs: z.number().int().min(10).max(3_600_000).default(60_000),
    })
    .prefault({}),
  /** Largest /async-function request body in bytes; past it 413. Default 1 MiB (Lambda's async limit). */
  asyncBodyLimitBytes: z
    .number()
    .int()
    .min(1)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /**
   * Bytes of request bodies the gateway holds at once while reading them whole (async calls, OpenWhisk params
   * and web actions, Lambda API calls), across every connection; past it 429 ERR_REQUEST_BODIES_FULL with
   * Retry-After. Each body has its own limit besides. Default 256 MiB.
   */
  bufferedBodiesMaxBytes: z
    .number()
    .int()
    .min(1024 * 1024)
    .default(256 * 1024 * 1024),
  /**
   * Where X-Callback-Url may point: host names (`.example.com` for subdomains), addresses and CIDRs. Empty
   * (the default): any host. Link-local (cloud metadata), multicast and the gateway's own address never.
   */
  callbackAllow: z.array(z.string().min(1).max(253)).max(1000).default([]),
  /** Calls of one function waiting in the async queue; past it 429. A function's `async.maxQueued` overrides it. Default 10,000. */
  asyncMaxQueued: z.number().int().min(1).max(10_000_000).default(10_000),
  /** Bytes of the calls of one function waiting in the async queue; past it 429 (`async.maxQueuedBytes` overrides). Default 64 MiB. */
  asyncMaxQueuedBytes: z
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  /** A queued call a worker holds is redelivered when its worker stops renewing it this long. Default 30 s. */
  asyncLeaseMs: z.number().int().min(200).max(3_600_000).default(30_000),
  /** Finished call records (succeeded, failed) are kept this long. Default 24 h. */
  callRetentionMs: z.number().int().min(1000).default(86_400_000),
  /** Dead letters (dead calls, with their request for redrive) are kept this long. Default 7 days. */
  deadLetterRetentionMs: z
    .number()
    .int()
    .min(1000)
    .default(7 * 86_400_000),
  /** Bytes of a function's async response body kept in its call record. Default 64 KiB. */
  callResponseLimitBytes: z
    .number()
    .int()
    .min(0)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  /** One POST to an X-Callback-Url may take this long before it is abandoned and retried. Default 10 s. */
  callbackTimeoutMs: z.number().int().min(50).max(300_000).default(10_000),
  /**
   * Cluster mode (docs/cluster.md): the NATS servers, comma-separated `nats://host:4222` URLs. Every node of
   * a cluster names the same NATS and shares functions, bundles, the async queue, call records and cron.
   * Absent: a single node on SQLite.
   */
  cluster: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== ''),
    )
    .pipe(
      z
        .array(
          z
            .string()
            .regex(/^(nats|tls):\/\/[^\s/]+(:\d+)?\/?$/, 'must be nats://host:port URLs, comma-separated'),
        )
        .min(1),
    )
    .optional(),
  /** Cluster mode: copies of each stream and bucket across the NATS servers (1, 3 or 5). Default 1. */
  clusterReplicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(1),
  /** Cluster mode: this node's id in `nimbus nodes` (letters, digits, `-`, `_`). Default: host name and a random suffix. */
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
  /** Tracing of calls over OTLP/HTTP (docs/observability.md). */
  tracing: z
    .strictObject({
      /**
       * Base URL of an OTLP/HTTP receiver (a collector, Jaeger, Tempo, ...): spans go to `{base}/v1/traces`,
       * as with OTEL_EXPORTER_OTLP_ENDPOINT (which sets it). Absent: no spans are made or exported.
       */
      otlpEndpoint: z
        .url({
          protocol: /^https?$/,
          error: 'must be an http:// or https:// URL such as http://127.0.0.1:4318',
        })
        .optional(),
      /** `service.name` of the spans (OTEL_SERVICE_NAME sets it). Default nimbus. */
      serviceName: z.string().min(1).max(255).default('nimbus'),
      /**
       * Share of new traces (calls without a sampled caller context) that are recorded, 0 to 1; a caller's
       * sampled flag is followed either way. Default 1: every call.
       */
      sampleRatio: z.number().min(0).max(1).default(1),
      /** Ended spans wait up to this long to be exported in one batch. Default 5 s. */
      exportDelayMs: z.number().int().min(10).max(60_000).default(5000),
    })
    .prefault({}),
});

export type PlatformConfigInput = z.input<typeof platformConfigSchema>;
export type PlatformConfig = Readonly<z.output<typeof platformConfigSchema>>;

const ENV_KEYS: Record<string, { key: keyof PlatformConfigInput; type: 'string' | 'number' | 'boolean' }> = {
  NIMBUS_HOST: { key: 'host', type: 'string' },
  NIMBUS_PORT: { key: 'port', type: 'number' },
  NIMBUS_DATA: { key: 'dataDir', type: 'string' },
  NIMBUS_BODY_LIMIT_BYTES: { key: 'bodyLimitBytes', type: 'number' },
  NIMBUS_BUNDLE_MAX_UNPACKED_BYTES: { key: 'bundleMaxUnpackedBytes', type: 'number' },
  NIMBUS_SHUTDOWN_GRACE_MS: { key: 'shutdownGraceMs', type: 'number' },
  NIMBUS_ADMIN_TOKEN: { key: 'adminToken', type: 'string' },
  NIMBUS_MASTER_KEY: { key: 'masterKey', type: 'string' },
  NIMBUS_DEBUG: { key: 'debug', type: 'boolean' },
  NIMBUS_PYTHON: { key: 'python', type: 'string' },
  NIMBUS_NODE_VERSION_FALLBACK: { key: 'nodeVersionFallback', type: 'string' },
  NIMBUS_AWS_REGION: { key: 'awsRegion', type: 'string' },
  NIMBUS_MEMORY_BUDGET_MB: { key: 'memoryBudgetMb', type: 'number' },
  NIMBUS_SANDBOX: { key: 'sandbox', type: 'string' },
  NIMBUS_SANDBOX_RUN_AS: { key: 'sandboxRunAs', type: 'string' },
  NIMBUS_ASYNC_BODY_LIMIT_BYTES: { key: 'asyncBodyLimitBytes', type: 'number' },
  NIMBUS_BUFFERED_BODIES_MAX_BYTES: { key: 'bufferedBodiesMaxBytes', type: 'number' },
  NIMBUS_ASYNC_MAX_QUEUED: { key: 'asyncMaxQueued', type: 'number' },
  NIMBUS_ASYNC_MAX_QUEUED_BYTES: { key: 'asyncMaxQueuedBytes', type: 'number' },
  NIMBUS_CALL_RETENTION_MS: { key: 'callRetentionMs', type: 'number' },
  NIMBUS_CLUSTER: { key: 'cluster', type: 'string' },
  NIMBUS_CLUSTER_REPLICAS: { key: 'clusterReplicas', type: 'number' },
  NIMBUS_NODE_ID: { key: 'nodeId', type: 'string' },
};

/** OpenTelemetry's own variables that map onto `tracing.*` keys. */
const OTEL_ENV_KEYS: Record<string, keyof NonNullable<PlatformConfigInput['tracing']>> = {
  OTEL_EXPORTER_OTLP_ENDPOINT: 'otlpEndpoint',
  OTEL_SERVICE_NAME: 'serviceName',
};

/**
 * Reads the NIMBUS_* variables that map onto config keys, and OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT and
 * OTEL_SERVICE_NAME (the caller passes the environment in).
 */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): PlatformConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, { key, type }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    out[key] = type === 'number' ? Number(raw) : type === 'boolean' ? raw === '1' || raw === 'true' : raw;
  }
  const tracing: Record<string, string> = {};
  for (const [name, key] of Object.entries(OTEL_ENV_KEYS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') tracing[key] = raw;
  }
  if (Object.keys(tracing).length > 0) out.tracing = tracing;
  return out as PlatformConfigInput;
}

export function readConfigFile(path: string): PlatformConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NimbusError('ERR_CONFIG_INVALID', [`cannot read ${path}: ${(err as Error).message}`]);
  }
  const value = parseYaml(text) as unknown;
  if (value !== null && typeof value !== 'object')
    throw new NimbusError('ERR_CONFIG_INVALID', [`${path} must hold a mapping`]);
  return (value ?? {}) as PlatformConfigInput;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Merges the layers (later wins; a section such as `tracing` key by key, so the environment's endpoint keeps
 * the file's other tracing keys), validates, resolves paths and freezes.
 */
export function loadPlatformConfig(...layers: PlatformConfigInput[]): PlatformConfig {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      const before = merged[key];
      merged[key] = isPlainObject(before) && isPlainObject(value) ? { ...before, ...value } : value;
    }
  }
  const result = platformConfigSchema.safeParse(merged);
  if (!result.success) throw new NimbusError('ERR_CONFIG_INVALID', [formatZodIssues(result.error)]);
  const config = { ...result.data, dataDir: resolve(result.data.dataDir) };
  return Object.freeze(config);
}
