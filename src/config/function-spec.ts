// The function spec (nimbus.yml): one zod schema gives its types, defaults and validation.
import { z } from 'zod';
import { NimbusError } from '../errors.js';
import { azureSpecSchema, checkAzureKeys } from '../runtimes/azure/azure-spec.js';
import { asyncSpecFields } from './async-spec.js';
import { type LabelScale, scaleFromLabels } from './scale-labels.js';

/** DNS label: what a function name must be (it appears in URLs, paths and process names). */
export const FUNCTION_NAME_RE = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The runtimes a function can name (src/runtimes/index.ts has an adapter for each). */
export const RUNTIME_NAMES = ['node', 'python', 'exec', 'http', 'lambda'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** A secret name: a file name in every instance, so no `/`, no leading dot; OpenFaaS (Kubernetes) names fit. */
export const SECRET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export const DEFAULT_TIMEOUT_MS = 30_000;

/** A NATS subject a function may subscribe to: tokens separated by `.`; `*` one token, `>` the rest. */
export const TOPIC_RE = /^(?:[A-Za-z0-9_-]+|\*)(?:\.(?:[A-Za-z0-9_-]+|\*))*(?:\.>)?$|^>$/;
/** First tokens no topic may have: the platform's own subjects, NATS's request inboxes. (`$…` fails TOPIC_RE.) */
const RESERVED_TOPIC_TOKENS: ReadonlySet<string> = new Set(['nimbus', '_inbox']);

/**
 * Why `subject` (a valid NATS subject or pattern) cannot be a topic, or undefined: its first token must be a
 * name the platform does not use itself, so no topic of any namespace reaches the platform's own subjects
 * (triggers/topic-subject.ts).
 */
export function topicProblem(subject: string): string | undefined {
  const first = subject.split('.', 1)[0]!;
  if (first === '*' || first === '>')
    return `"${subject.slice(0, 80)}" starts with a wildcard: a topic's first token is a name (e.g. "orders.>")`;
  if (RESERVED_TOPIC_TOKENS.has(first.toLowerCase()))
    return `"${subject.slice(0, 80)}" is reserved for the platform's own subjects (first token "${first}")`;
  return undefined;
}
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
/** Requests one instance of a Node fetch or OpenFaaS-style handler serves at once when the spec does not say. */
export const DEFAULT_NODE_CONCURRENCY = 80;

const scaleSchema = z.strictObject({
  /** Instances kept running even when idle. Default 0 (scale to zero). */
  min: z.number().int().min(0).max(1000).default(0),
  /** Upper bound of instances. Default 10. */
  max: z.number().int().min(1).max(1000).default(10),
  /** An instance idle this long is stopped (down to `min`). Default 10 minutes, as Lambda. */
  idleTimeoutMs: z.number().int().min(100).max(86_400_000).default(DEFAULT_IDLE_TIMEOUT_MS),
  /** Concurrent requests one instance is meant to carry. Default: `concurrency`. */
  target: z.number().int().min(1).max(1000).optional(),
  /** Fraction of `target` the autoscaler aims at, leaving headroom. Default 0.7 (Knative's). */
  utilisation: z.number().gt(0).max(1).default(0.7),
  /** Keep-alive policy at rest: `fixed` (idleTimeoutMs) or `hybrid` (idle-time histogram). Default: the platform's. */
  keepAlive: z.enum(['fixed', 'hybrid']).optional(),
});

export const functionSpecSchema = z
  .strictObject({
    /** Language runtime (docs/runtimes.md). Default `node`. */
    runtime: z.enum(RUNTIME_NAMES).default('node'),
    /**
     * node: source file, optionally with an export (`index.ts`, `index.handler`; default: detected).
     * python: `module.function` (default `handler.handle`). lambda: `_HANDLER` (default `index.handler`).
     */
    handler: z.string().min(1).max(200).optional(),
    /**
     * node: the Node.js major the function runs on (Lambda's `nodejs22.x` is 22). Default: the node running
     * Nimbus. Another major is looked up on the host (docs/runtimes.md) and refused when absent, unless the
     * platform sets `nodeVersionFallback: host`.
     */
    nodeVersion: z.number().int().min(10).max(99).optional(),
    /** exec, http: the program to run (`./run.sh`, `python3 server.py`); lambda: instead of `./bootstrap`. */
    command: z.string().trim().min(1).max(1000).optional(),
    /** http: the path polled until the program answers below 500 before traffic flows. Default `/`. */
    healthPath: z.string().startsWith('/').max(500).optional(),
    /** http: `PORT` is a Unix socket path instead of a TCP port on 127.0.0.1. Default false. */
    unixSocket: z.boolean().optional(),
    /**
     * Secrets (`nimbus secret create`) the function's instances read as files: /var/openfaas/secrets/<name>
     * in the sandbox, `$NIMBUS_SECRETS_DIR/<name>` always (OpenFaaS's `secrets`). Each must exist at deploy.
     */
    secrets: z
      .array(z.string().regex(SECRET_NAME_RE, 'must be a secret name (letters, digits, ".", "_", "-")'))
      .max(64)
      .refine((names) => new Set(names).size === names.length, 'names a secret twice')
      .optional(),
    /** Environment variables given to the function. */
    environment: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid variable name'),
        z.union([z.string(), z.number(), z.boolean()]),
      )
      .default({})
      .transform((env) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]))),
    /** A request running longer is answered 504 and its instance stopped. Default 30 s. */
    timeoutMs: z.number().int().min(1).max(900_000).default(DEFAULT_TIMEOUT_MS),
    /**
     * Requests one instance serves at once. Default: by handler style, once an instance has loaded —
     * DEFAULT_NODE_CONCURRENCY for Node fetch and OpenFaaS-style handlers (asynchronous, like Cloud Run's 80),
     * 1 for everything else (Lambda-style handlers get one event at a time, as in Lambda). See docs/functions.md.
     */
    concurrency: z.number().int().min(1).max(1000).optional(),
    /** Memory of one instance in MiB (a limit where the sandbox can enforce it). Default 256. */
    memoryMb: z.number().int().min(32).max(10_240).default(256),
    /** false: the instance gets its own network namespace with only loopback (no host, no internet). Default true. */
    network: z.boolean().default(true),
    /** CPU of one instance as a fraction of a core (0.5 = half a core); a limit where cgroups allow. Default: unlimited. */
    cpu: z.number().min(0.01).max(256).optional(),
    /** Processes and threads of one instance (node alone runs about 11 threads). Default 64. */
    maxProcesses: z.number().int().min(32).max(32_768).default(64),
    /** Requests that may wait for a free instance; past it callers get 429. Default 100. */
    maxQueue: z.number().int().min(0).max(100_000).default(100),
    /** A private function is invoked only with the admin token. Default false. */
    private: z.boolean().default(false),
    scale: scaleSchema.default({ min: 0, max: 10, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, utilisation: 0.7 }),
    /** Free-form labels; OpenFaaS's com.openfaas.scale.* labels set `scale` keys the spec leaves out. */
    labels: z.record(z.string(), z.string()).default({}),
    /** Free-form annotations, kept and shown (OpenFaaS's `annotations`; the compat APIs keep their metadata here). */
    annotations: z.record(z.string(), z.string()).optional(),
    /**
     * How the handler is called, when its exports cannot tell: `openfaas` (the OpenFaaS node/python3-http
     * templates' `(event, context)`), `lambda`, `fetch`, `openwhisk` (`main(params)`), `azure` (an Azure
     * Functions app: set by `nimbus deploy`). Default: detected (node), by name and signature (python: `handle`
     * is openfaas, one parameter is openwhisk).
     */
    handlerStyle: z.enum(['fetch', 'lambda', 'openfaas', 'openwhisk', 'azure']).optional(),
    /** An Azure Functions app's routes, timers and queues (found by `nimbus deploy`; runtimes/azure/azure-spec.ts). */
    azure: azureSpecSchema.optional(),
    /** async, schedule, timezone, payload, allowOverlap: see async-spec.ts. */
    ...asyncSpecFields,
    /**
     * NATS subjects whose messages invoke the function, once per message across a cluster (docs/cluster.md,
     * topic triggers). Default: OpenFaaS's `topic` annotation (comma-separated), else none.
     */
    topics: z
      .array(
        z
          .string()
          .regex(
            TOPIC_RE,
            'must be a NATS subject (tokens of letters, digits, "-", "_", "*", ">" separated by ".")',
          )
          .superRefine((subject, ctx) => {
            const problem = topicProblem(subject);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
      )
      .max(32)
      .optional(),
    /** A subject each topic-triggered result is published to (besides a request's own reply). */
    topicReply: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be a NATS subject without wildcards')
      .superRefine((subject, ctx) => {
        const problem = topicProblem(subject);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  })
  .transform((spec, ctx) => {
    const { scale: fromLabels, problems } = scaleFromLabels(spec.labels);
    for (const message of problems) ctx.addIssue({ code: 'custom', path: ['labels'], message });
    // OpenFaaS's connectors read the `topic` annotation: "orders.created,orders.paid".
    let topics = spec.topics;
    const annotated = spec.annotations?.topic;
    if (topics === undefined && annotated !== undefined) {
      topics = annotated
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      for (const topic of topics) {
        const problem = TOPIC_RE.test(topic)
          ? topicProblem(topic)
          : `"${topic.slice(0, 80)}" is not a NATS subject`;
        if (problem) ctx.addIssue({ code: 'custom', path: ['annotations', 'topic'], message: problem });
      }
    }
    return {
      ...spec,
      topics: topics ?? [],
      scale: { ...spec.scale, ...withoutExplicit(fromLabels, spec.scale) },
    };
  })
  .superRefine((spec, ctx) => {
    checkRuntimeKeys(spec, ctx);
    checkAzureKeys(spec, ctx);
    if (spec.scale.min > spec.scale.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['scale', 'min'],
        message: `must not exceed scale.max (${spec.scale.max})`,
      });
    }
  });

/** `command`, `healthPath` and `unixSocket` belong to the runtimes that use them; exec and http need a command. */
function checkRuntimeKeys(
  spec: {
    runtime: RuntimeName;
    command?: string | undefined;
    healthPath?: string | undefined;
    unixSocket?: boolean | undefined;
    nodeVersion?: number | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const { runtime } = spec;
  if ((runtime === 'exec' || runtime === 'http') && spec.command === undefined)
    ctx.addIssue({ code: 'custom', path: ['command'], message: `is required by runtime ${runtime}` });
  if (spec.command !== undefined && (runtime === 'node' || runtime === 'python'))
    ctx.addIssue({
      code: 'custom',
      path: ['command'],
      message: 'is used by runtimes exec, http and lambda only',
    });
  if (spec.nodeVersion !== undefined && runtime !== 'node')
    ctx.addIssue({ code: 'custom', path: ['nodeVersion'], message: 'is used by runtime node only' });
  for (const key of ['healthPath', 'unixSocket'] as const) {
    if (spec[key] !== undefined && runtime !== 'http')
      ctx.addIssue({ code: 'custom', path: [key], message: 'is used by runtime http only' });
  }
}

/** Label values apply only where the spec's own `scale` keeps its default. */
function withoutExplicit(
  fromLabels: LabelScale,
  scale: { min: number; max: number; idleTimeoutMs: number; target?: number | undefined },
): LabelScale {
  const out: LabelScale = {};
  if (fromLabels.min !== undefined && scale.min === 0) out.min = fromLabels.min;
  if (fromLabels.max !== undefined && scale.max === 10) out.max = fromLabels.max;
  if (fromLabels.target !== undefined && scale.target === undefined) out.target = fromLabels.target;
  if (fromLabels.idleTimeoutMs !== undefined && scale.idleTimeoutMs === DEFAULT_IDLE_TIMEOUT_MS)
    out.idleTimeoutMs = fromLabels.idleTimeoutMs;
  return out;
}

export type FunctionSpecInput = z.input<typeof functionSpecSchema>;
export type FunctionSpec = z.output<typeof functionSpecSchema>;

/** Validates a spec; throws ERR_FUNCTION_SPEC_INVALID naming every bad field. */
export function parseFunctionSpec(input: unknown): FunctionSpec {
  const result = functionSpecSchema.safeParse(input ?? {});
  if (!result.success) throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [formatZodIssues(result.error)]);
  return result.data;
}

export function formatZodIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') {
        const where = path ? `${path}: ` : '';
        return `${where}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export function assertFunctionName(name: string): void {
  if (!FUNCTION_NAME_RE.test(name)) throw new NimbusError('ERR_FUNCTION_NAME_INVALID', [name.slice(0, 80)]);
}

/** Splits `handler` into its file and export: `index.handler` → {file: 'index', exportName: 'handler'}. */
export function parseHandler(handler: string | undefined): {
  file: string | undefined;
  exportName: string | undefined;
} {
  if (!handler) return { file: undefined, exportName: undefined };
  const m = /^(.*?)(?:\.(ts|mts|cts|js|mjs|cjs|tsx|jsx))?(?:\.([A-Za-z_$][\w$]*))?$/.exec(handler);
  if (!m) return { file: handler, exportName: undefined };
  const [, stem, ext, exportName] = m;
  if (ext) return { file: `${stem}.${ext}`, exportName };
  return { file: stem, exportName };
}
