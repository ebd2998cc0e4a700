// Retry policy of async calls, as pure functions (random and time are passed in): how an attempt's result
// is classified, and whether the call is done, retried after a delay, or goes to the dead letters.

export interface BackoffPolicy {
  /** Bound of the first delay, in ms; the bound doubles with each retry. */
  initialMs: number;
  /** Largest bound, in ms. */
  maxMs: number;
}

export interface RetryPolicy {
  /** Retries after function errors (attempts = retries + 1). */
  retries: number;
  backoff: BackoffPolicy;
  maxEventAgeMs: number;
  /** Statuses answered by the function that count as errors. */
  retryOn: readonly number[];
}

/** Throttles and platform trouble are retried like Lambda does: back-off from 1 s to 5 min, until maxEventAgeMs. */
export const THROTTLE_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 300_000 };

/** Error codes that mean "not now" rather than "the function failed": retried without using up retries. */
const THROTTLE_CODES = new Set([
  'ERR_QUEUE_FULL',
  'ERR_FUNCTION_UNAVAILABLE',
  'ERR_PLATFORM_SHUTTING_DOWN',
  'ERR_CAPACITY_EXHAUSTED',
]);

/**
 * Exponential back-off with full jitter: a uniform delay in [0, min(maxMs, initialMs × 2^(retry − 1))].
 * `retry` is 1 for the first retry. `random` returns a number in [0, 1).
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.min(Math.max(retry, 1) - 1, 52);
  const bound = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  return Math.floor(random() * bound);
}

/** One attempt's result: the status, and the error code when the platform (not the function) produced it. */
export interface AttemptResult {
  status: number;
  errorCode?: string | undefined;
}

export type AttemptKind = 'success' | 'function-error' | 'throttle' | 'final-failure' | 'gone';

export function classifyAttempt(result: AttemptResult, retryOn: readonly number[]): AttemptKind {
  if (result.errorCode !== undefined) {
    if (result.errorCode === 'ERR_FUNCTION_NOT_FOUND') return 'gone';
    if (THROTTLE_CODES.has(result.errorCode)) return 'throttle';
    // Thrown, timed out, crashed, invalid response: the function failed, whatever retryOn says.
    return 'function-error';
  }
  if (result.status < 400) return 'success';
  return retryOn.includes(result.status) ? 'function-error' : 'final-failure';
}

export type Verdict =
  | { kind: 'succeeded' }
  /** Answered with a status that is not retried: done, unsuccessfully. */
  | { kind: 'failed' }
  | { kind: 'retry'; delayMs: number; functionError: boolean }
  | { kind: 'dead'; reason: 'retries' | 'expired' | 'gone' };

export interface DecideInput {
  result: AttemptResult;
  /** Function errors of this call before this attempt. */
  errors: number;
  /** Deliveries of this call so far, this one included. */
  deliveries: number;
  enqueuedAt: number;
  now: number;
}

/** What happens to a call after an attempt. */
export function decide(input: DecideInput, policy: RetryPolicy, random: () => number): Verdict {
  const kind = classifyAttempt(input.result, policy.retryOn);
  switch (kind) {
    case 'success':
      return { kind: 'succeeded' };
    case 'final-failure':
      return { kind: 'failed' };
    case 'gone':
      return { kind: 'dead', reason: 'gone' };
    case 'function-error': {
      const errors = input.errors + 1;
      if (errors > policy.retries) return { kind: 'dead', reason: 'retries' };
      const delayMs = backoffDelayMs(errors, policy.backoff, random);
      if (isExpired(input.enqueuedAt, input.now + delayMs, policy.maxEventAgeMs))
        return { kind: 'dead', reason: 'expired' };
      return { kind: 'retry', delayMs, functionError: true };
    }
    case 'throttle': {
      const throttles = Math.max(1, input.deliveries - input.errors);
      const delayMs = backoffDelayMs(throttles, THROTTLE_BACKOFF, random);
      if (isExpired(input.enqueuedAt, input.now + delayMs, policy.maxEventAgeMs))
        return { kind: 'dead', reason: 'expired' };
      return { kind: 'retry', delayMs, functionError: false };
    }
  }
}

/** True when a call queued at `enqueuedAt` is past its maximum age at `at`. */
export function isExpired(enqueuedAt: number, at: number, maxEventAgeMs: number): boolean {
  return at - enqueuedAt > maxEventAgeMs;
}
