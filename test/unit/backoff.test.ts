// The retry policy of async calls: back-off with full jitter, classification of attempts, verdicts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backoffDelayMs,
  classifyAttempt,
  decide,
  type RetryPolicy,
  THROTTLE_BACKOFF,
} from '../../src/queue/backoff.js';

const policy: RetryPolicy = {
  retries: 2,
  backoff: { initialMs: 1000, maxMs: 5000 },
  maxEventAgeMs: 60_000,
  retryOn: [408, 429, 500, 502, 503, 504],
};
const almostOne = () => 0.999999;

test('back-off: full jitter under a bound that doubles per retry up to maxMs', () => {
  const bound = (retry: number) => backoffDelayMs(retry, policy.backoff, almostOne) + 1;
  assert.deepEqual([1, 2, 3, 4, 5].map(bound), [1000, 2000, 4000, 5000, 5000]);
  assert.equal(
    backoffDelayMs(3, policy.backoff, () => 0),
    0,
  );
  assert.equal(
    backoffDelayMs(2, policy.backoff, () => 0.5),
    1000,
  );
  // Huge retry counts neither overflow nor exceed the cap.
  assert.equal(backoffDelayMs(10_000, policy.backoff, almostOne), 4999);
  assert.equal(backoffDelayMs(0, policy.backoff, almostOne), 999);
});

test('attempts are classified by who produced the status', () => {
  assert.equal(classifyAttempt({ status: 200 }, policy.retryOn), 'success');
  assert.equal(classifyAttempt({ status: 302 }, policy.retryOn), 'success');
  assert.equal(classifyAttempt({ status: 503 }, policy.retryOn), 'function-error');
  assert.equal(classifyAttempt({ status: 429 }, policy.retryOn), 'function-error');
  assert.equal(classifyAttempt({ status: 400 }, policy.retryOn), 'final-failure');
  assert.equal(classifyAttempt({ status: 501 }, policy.retryOn), 'final-failure');
  assert.equal(classifyAttempt({ status: 500, errorCode: 'ERR_HANDLER_FAILED' }, []), 'function-error');
  assert.equal(classifyAttempt({ status: 504, errorCode: 'ERR_HANDLER_TIMEOUT' }, []), 'function-error');
  assert.equal(classifyAttempt({ status: 502, errorCode: 'ERR_INSTANCE_CRASHED' }, []), 'function-error');
  assert.equal(classifyAttempt({ status: 429, errorCode: 'ERR_QUEUE_FULL' }, policy.retryOn), 'throttle');
  assert.equal(classifyAttempt({ status: 502, errorCode: 'ERR_FUNCTION_UNAVAILABLE' }, []), 'throttle');
  assert.equal(classifyAttempt({ status: 404, errorCode: 'ERR_FUNCTION_NOT_FOUND' }, []), 'gone');
});

test('function errors use up retries, then the call is dead', () => {
  const base = { enqueuedAt: 0, now: 1000 };
  const failure = { status: 500, errorCode: 'ERR_HANDLER_FAILED' };
  assert.deepEqual(
    decide({ ...base, result: failure, errors: 0, deliveries: 1 }, policy, () => 0.5),
    {
      kind: 'retry',
      delayMs: 500,
      functionError: true,
    },
  );
  assert.deepEqual(
    decide({ ...base, result: failure, errors: 1, deliveries: 2 }, policy, () => 0.5),
    {
      kind: 'retry',
      delayMs: 1000,
      functionError: true,
    },
  );
  assert.deepEqual(
    decide({ ...base, result: failure, errors: 2, deliveries: 3 }, policy, () => 0.5),
    {
      kind: 'dead',
      reason: 'retries',
    },
  );
  assert.deepEqual(
    decide({ ...base, result: failure, errors: 0, deliveries: 1 }, { ...policy, retries: 0 }, Math.random),
    { kind: 'dead', reason: 'retries' },
  );
  assert.deepEqual(
    decide({ ...base, result: { status: 200 }, errors: 2, deliveries: 3 }, policy, Math.random),
    {
      kind: 'succeeded',
    },
  );
  assert.deepEqual(
    decide({ ...base, result: { status: 422 }, errors: 0, deliveries: 1 }, policy, Math.random),
    {
      kind: 'failed',
    },
  );
  assert.deepEqual(
    decide(
      { ...base, result: { status: 404, errorCode: 'ERR_FUNCTION_NOT_FOUND' }, errors: 0, deliveries: 1 },
      policy,
      Math.random,
    ),
    { kind: 'dead', reason: 'gone' },
  );
});

test('throttles back off from 1 s to 5 min without using up retries, until maxEventAgeMs', () => {
  const throttle = { status: 429, errorCode: 'ERR_QUEUE_FULL' };
  const sixHours = { ...policy, maxEventAgeMs: 21_600_000 };
  const verdict = decide(
    { result: throttle, errors: 2, deliveries: 10, enqueuedAt: 0, now: 0 },
    sixHours,
    almostOne,
  );
  assert.equal(verdict.kind, 'retry');
  assert.equal((verdict as { functionError: boolean }).functionError, false);
  assert.equal(
    (verdict as { delayMs: number }).delayMs,
    Math.floor(0.999999 * THROTTLE_BACKOFF.initialMs * 2 ** 7),
  );
  const capped = decide(
    { result: throttle, errors: 0, deliveries: 40, enqueuedAt: 0, now: 0 },
    sixHours,
    almostOne,
  );
  assert.equal((capped as { delayMs: number }).delayMs, Math.floor(0.999999 * THROTTLE_BACKOFF.maxMs));
  const late = decide(
    { result: throttle, errors: 0, deliveries: 20, enqueuedAt: 0, now: 59_000 },
    policy,
    almostOne,
  );
  assert.deepEqual(late, { kind: 'dead', reason: 'expired' });
  // A retry that would start past the max age is not scheduled.
  const failure = { status: 500 };
  assert.deepEqual(
    decide({ result: failure, errors: 0, deliveries: 1, enqueuedAt: 0, now: 59_500 }, policy, almostOne),
    { kind: 'dead', reason: 'expired' },
  );
});
