// The async and cron parts of a function's spec: worker concurrency, retries and back-off, max event age,
// and the cron schedule (validated with croner at deploy, so a bad expression is a 400 naming the field).
import { Cron } from 'croner';
import { z } from 'zod';

/** Function errors retried by default: Lambda retries an async event twice. */
export const DEFAULT_ASYNC_RETRIES = 2;
/** Back-off before the first retry of a function error (doubling up to maxMs, full jitter). */
export const DEFAULT_BACKOFF_INITIAL_MS = 60_000;
export const DEFAULT_BACKOFF_MAX_MS = 300_000;
/** Lambda's default (and maximum) maximum event age: 6 hours. */
export const DEFAULT_MAX_EVENT_AGE_MS = 6 * 3_600_000;
/** Statuses a function may answer that count as an error and are retried (OpenFaaS Pro's list). */
export const DEFAULT_RETRY_ON: readonly number[] = [408, 429, 500, 502, 503, 504];
/** Cap of the default worker concurrency (which is the function's capacity, scale.max × concurrency). */
export const DEFAULT_ASYNC_CONCURRENCY_CAP = 100;

const backoffSchema = z
  .strictObject({
    /** Delay bound before the first retry, in ms; doubles each retry. Default 60 s (Lambda waits ~1 min). */
    initialMs: z.number().int().min(1).max(3_600_000).default(DEFAULT_BACKOFF_INITIAL_MS),
    /** Upper bound of the delay, in ms. Default 5 min. */
    maxMs: z.number().int().min(1).max(21_600_000).default(DEFAULT_BACKOFF_MAX_MS),
  })
  .superRefine((b, ctx) => {
    if (b.initialMs > b.maxMs) {
      ctx.addIssue({ code: 'custom', path: ['initialMs'], message: `must not exceed maxMs (${b.maxMs})` });
    }
  });

export const asyncSchema = z.strictObject({
  /** Calls of this function that may wait in the queue; past it 429. Default: the platform's asyncMaxQueued. */
  maxQueued: z.number().int().min(1).max(10_000_000).optional(),
  /** Bytes of this function's waiting calls; past it 429. Default: the platform's asyncMaxQueuedBytes. */
  maxQueuedBytes: z.number().int().min(1024).optional(),
  /** Calls of this function run at once from the queue. Default: scale.max × concurrency, at most 100. */
  concurrency: z.number().int().min(1).max(1000).optional(),
  /** Retries after a function error (throw, timeout, crash, or a status in retryOn). Default 2, as Lambda. */
  retries: z.number().int().min(0).max(1000).default(DEFAULT_ASYNC_RETRIES),
  /** Exponential back-off with full jitter between retries of function errors. */
  backoff: backoffSchema.prefault({}),
  /** A call not finished this long after it was queued goes to the dead letters. Default 6 h, as Lambda. */
  maxEventAgeMs: z
    .number()
    .int()
    .min(1000)
    .max(7 * 86_400_000)
    .default(DEFAULT_MAX_EVENT_AGE_MS),
  /** Statuses the function answers that are retried as errors. Default 408, 429, 500, 502, 503, 504. */
  retryOn: z
    .array(z.number().int().min(400).max(599))
    .max(200)
    .default(() => [...DEFAULT_RETRY_ON]),
});

export type AsyncSpec = z.output<typeof asyncSchema>;

/** True when `tz` is an IANA time zone this Node.js knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Why `expression` is not a cron expression croner accepts, or undefined when it is one. */
export function cronExpressionError(expression: string): string | undefined {
  try {
    const cron = new Cron(expression, { paused: true });
    cron.stop();
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern: /, '');
  }
}

const scheduleSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .superRefine((expression, ctx) => {
    const error = cronExpressionError(expression);
    if (error) ctx.addIssue({ code: 'custom', message: `invalid cron expression "${expression}": ${error}` });
  });

/** The spec keys this file adds to the function spec (spread into its schema). */
export const asyncSpecFields = {
  /** Queue workers, retries and dead letters for /async-function calls and cron runs. */
  async: asyncSchema.prefault({}),
  /** A cron expression (5 fields, or 6 with seconds first, or @hourly ...): runs the function on it. */
  schedule: scheduleSchema.optional(),
  /** IANA time zone the schedule is read in. Default: the server's. */
  timezone: z
    .string()
    .refine(isTimeZone, { message: 'must be an IANA time zone such as "Europe/Berlin" or "UTC"' })
    .optional(),
  /** Body of a scheduled call: a string is sent as text/plain, anything else as JSON. Default: none. */
  payload: z.json().optional(),
  /** Let a scheduled run start while the previous one is still queued or running. Default false. */
  allowOverlap: z.boolean().default(false),
};

/**
 * Worker concurrency of a function: its own setting, else its capacity capped at 100. `perInstance`: what
 * one instance takes when the spec leaves `concurrency` to the handler style (the pool knows once loaded).
 */
export function asyncConcurrency(
  spec: { async: AsyncSpec; concurrency?: number | undefined; scale: { max: number } },
  perInstance = spec.concurrency ?? 1,
): number {
  return spec.async.concurrency ?? Math.min(DEFAULT_ASYNC_CONCURRENCY_CAP, spec.scale.max * perInstance);
}
