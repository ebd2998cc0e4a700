// The async and cron keys of the function spec: defaults modelled on Lambda, and bad values named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asyncConcurrency, cronExpressionError } from '../../src/config/async-spec.js';
import { parseFunctionSpec } from '../../src/config/function-spec.js';

test('async defaults: 2 retries, 1-5 min back-off, 6 h max age, OpenFaaS Pro retry statuses', () => {
  const spec = parseFunctionSpec({});
  assert.deepEqual(spec.async, {
    retries: 2,
    backoff: { initialMs: 60_000, maxMs: 300_000 },
    maxEventAgeMs: 21_600_000,
    retryOn: [408, 429, 500, 502, 503, 504],
  });
  assert.equal(spec.schedule, undefined);
  assert.equal(spec.allowOverlap, false);
  assert.equal(asyncConcurrency(spec), 10, 'scale.max × concurrency');
  assert.equal(asyncConcurrency(parseFunctionSpec({ concurrency: 50, scale: { max: 10 } })), 100, 'capped');
  assert.equal(asyncConcurrency(parseFunctionSpec({ async: { concurrency: 3 } })), 3);
  const partial = parseFunctionSpec({ async: { backoff: { initialMs: 10 } } });
  assert.deepEqual(partial.async.backoff, { initialMs: 10, maxMs: 300_000 });
});

test('schedules: five or six fields and nicknames; time zones; payloads of any JSON', () => {
  for (const schedule of ['*/5 * * * *', '0 0 9 * * MON-FRI', '@daily', ' 0 * * * * ']) {
    assert.doesNotThrow(() => parseFunctionSpec({ schedule }), schedule);
  }
  assert.equal(parseFunctionSpec({ schedule: ' 0 * * * * ' }).schedule, '0 * * * *');
  assert.equal(
    parseFunctionSpec({ schedule: '@daily', timezone: 'Europe/Berlin' }).timezone,
    'Europe/Berlin',
  );
  assert.deepEqual(parseFunctionSpec({ schedule: '@daily', payload: { a: [1, 'x'] } }).payload, {
    a: [1, 'x'],
  });
  assert.match(cronExpressionError('* * *') ?? '', /five, six, or seven/);
  assert.equal(cronExpressionError('* * * * *'), undefined);
});

test('bad values are refused with the field named', () => {
  const bad: [unknown, RegExp][] = [
    [{ schedule: '' }, /schedule:/],
    [
      { schedule: '99 * * * *' },
      /schedule: invalid cron expression "99 \* \* \* \*": Invalid value for minute/,
    ],
    [{ timezone: 'Nowhere/Land' }, /timezone: must be an IANA time zone/],
    [{ payload: () => 1 }, /payload/],
    [{ async: { concurrency: 0 } }, /async\.concurrency/],
    [{ async: { retries: 1.5 } }, /async\.retries/],
    [{ async: { backoff: { initialMs: 0 } } }, /async\.backoff\.initialMs/],
    [
      { async: { backoff: { initialMs: 1000, maxMs: 10 } } },
      /async\.backoff\.initialMs: must not exceed maxMs \(10\)/,
    ],
    [{ async: { retryOn: [302] } }, /async\.retryOn\.0/],
    [{ allowOverlap: 'yes' }, /allowOverlap/],
  ];
  for (const [input, message] of bad) {
    assert.throws(
      () => parseFunctionSpec(input),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_FUNCTION_SPEC_INVALID');
        assert.match(err.message, message);
        return true;
      },
    );
  }
});
