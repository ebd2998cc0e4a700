// The shapes of the API answers the dashboard reads (the fields it uses; others pass through untouched).
import * as z from 'zod/mini';

const strings = z.record(z.string(), z.string());

export const whoamiSchema = z.object({
  id: z.string(),
  scope: z.enum(['admin', 'deploy', 'invoke', 'read']),
  namespace: z.string(),
  functions: z.union([z.literal('*'), z.array(z.string())]),
});
export type Whoami = z.infer<typeof whoamiSchema>;

export const specSchema = z.looseObject({
  runtime: z.optional(z.string()),
  private: z.optional(z.boolean()),
  timeoutMs: z.optional(z.number()),
  memoryMb: z.optional(z.number()),
  concurrency: z.optional(z.number()),
  labels: z.optional(strings),
  annotations: z.optional(strings),
  environment: z.optional(strings),
  schedule: z.optional(z.unknown()),
});

export const processSchema = z.object({
  id: z.string(),
  pid: z.optional(z.number()),
  inflight: z.number(),
  initMs: z.number(),
  idleMs: z.number(),
});

export const functionSchema = z.looseObject({
  name: z.string(),
  namespace: z.string(),
  version: z.number(),
  runtime: z.string(),
  url: z.string(),
  spec: specSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  invocations: z.number(),
  errors: z.number(),
  instances: z.number(),
  starting: z.number(),
  inflight: z.number(),
  queued: z.number(),
  status: z.string(),
  lastError: z.optional(z.string()),
  nextRun: z.optional(z.string()),
  processes: z.optional(z.array(processSchema)),
});
export type FunctionView = z.infer<typeof functionSchema>;
export const functionListSchema = z.object({ functions: z.array(functionSchema) });

export const summarySchema = z.object({
  name: z.string(),
  namespace: z.string(),
  calls: z.number(),
  errors: z.number(),
  coldStarts: z.number(),
  rate: z.number(),
  p50Ms: z.nullable(z.number()),
  p99Ms: z.nullable(z.number()),
  spark: z.array(z.number()),
});
export type Summary = z.infer<typeof summarySchema>;
export const activityListSchema = z.object({
  bucketMs: z.number(),
  windowSeconds: z.number(),
  functions: z.array(summarySchema),
});

export const seriesSchema = z.object({
  bucketMs: z.number(),
  start: z.number(),
  calls: z.array(z.number()),
  errors: z.array(z.number()),
  coldStarts: z.array(z.number()),
  p50Ms: z.array(z.nullable(z.number())),
  p99Ms: z.array(z.nullable(z.number())),
});
export type Series = z.infer<typeof seriesSchema>;
export const recentCallSchema = z.object({
  at: z.number(),
  status: z.number(),
  durationMs: z.number(),
  cold: z.boolean(),
  instance: z.optional(z.string()),
  callId: z.optional(z.string()),
});
export type RecentCall = z.infer<typeof recentCallSchema>;
export const functionActivitySchema = z.object({
  series: seriesSchema,
  recent: z.array(recentCallSchema),
});

export const versionsSchema = z.object({
  current: z.number(),
  versions: z.array(
    z.object({
      version: z.number(),
      current: z.boolean(),
      bundle: z.string(),
      runtime: z.string(),
      createdAt: z.string(),
      aliases: z.array(z.string()),
    }),
  ),
});
export type Versions = z.infer<typeof versionsSchema>;

export const aliasSchema = z.object({
  name: z.string(),
  version: z.number(),
  weights: z.record(z.string(), z.number()),
  description: z.optional(z.string()),
  updatedAt: z.string(),
});
export type Alias = z.infer<typeof aliasSchema>;
export const aliasListSchema = z.object({ aliases: z.array(aliasSchema) });

export const namespaceSchema = z.object({
  name: z.string(),
  quotas: z.record(z.string(), z.number()),
  createdAt: z.string(),
  usage: z.optional(z.record(z.string(), z.number())),
});
export type Namespace = z.infer<typeof namespaceSchema>;
export const namespaceListSchema = z.object({ namespaces: z.array(namespaceSchema) });

export const callSchema = z.looseObject({
  id: z.string(),
  function: z.string(),
  source: z.optional(z.string()),
  status: z.string(),
  attempts: z.number(),
  errors: z.number(),
  redrives: z.number(),
  createdAt: z.string(),
  finishedAt: z.optional(z.string()),
  nextAttemptAt: z.optional(z.string()),
  durationMs: z.optional(z.number()),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
  response: z.optional(
    z.object({
      status: z.number(),
      headers: strings,
      bodyBytes: z.number(),
      body: z.optional(z.string()),
      bodyBase64: z.optional(z.string()),
      truncated: z.optional(z.boolean()),
    }),
  ),
});
export type Call = z.infer<typeof callSchema>;
export const callListSchema = z.object({
  calls: z.array(callSchema),
  counts: z.record(z.string(), z.number()),
});
export const redriveAllSchema = z.object({ redriven: z.number() });

export const keySchema = z.object({
  id: z.string(),
  scope: z.string(),
  namespace: z.string(),
  functions: z.union([z.literal('*'), z.array(z.string())]),
  description: z.optional(z.string()),
  createdAt: z.string(),
});
export type Key = z.infer<typeof keySchema>;
export const keyListSchema = z.object({ keys: z.array(keySchema) });
export const createdKeySchema = z.extend(keySchema, { secret: z.string() });

/** A secret as /api/v1/secrets shows it: its name and who uses it, never its value. */
export const secretSchema = z.object({
  name: z.string(),
  namespace: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  usedBy: z.array(z.string()),
});
export const secretListSchema = z.object({ secrets: z.array(secretSchema) });

/** One line of /system/logs (NDJSON). `callId` where the platform knows which call wrote the line. */
export const logLineSchema = z.object({
  instance: z.string(),
  timestamp: z.string(),
  text: z.string(),
  callId: z.optional(z.string()),
});
export type LogLine = z.infer<typeof logLineSchema>;

export const errorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
