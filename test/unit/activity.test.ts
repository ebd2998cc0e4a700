// The dashboard's call activity: 10-second buckets over an hour, latency quantiles, recent calls; time injected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BUCKET_MS,
  BUCKETS,
  CallActivity,
  FunctionActivity,
  quantile,
  RECENT_CALLS,
} from '../../src/metrics/activity.js';

const T0 = 1_700_000_000_000; // a bucket boundary (divisible by 10 000)

function clock(start = T0) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

test('calls land in the 10-second bucket of their end, errors and cold starts counted apart', () => {
  const c = clock();
  const a = new FunctionActivity(c.now);
  a.record(200, 0.004, true, 'i1');
  a.record(500, 0.02, false, 'i1');
  c.advance(BUCKET_MS);
  a.record(200, 0.001, false, 'i2');
  a.record(499, 0.001, false, undefined);
  const s = a.series(3);
  assert.equal(s.bucketMs, BUCKET_MS);
  assert.equal(s.start, T0 - BUCKET_MS);
  assert.deepEqual(s.calls, [0, 2, 2]);
  assert.deepEqual(s.errors, [0, 1, 0], '499 (client went away) is not an error');
  assert.deepEqual(s.coldStarts, [0, 1, 0]);
  assert.equal(s.p50Ms[0], null, 'an empty bucket has no quantile');
  assert.ok(s.p99Ms[1]! > 10 && s.p99Ms[1]! <= 20, `p99 ${s.p99Ms[1]} in the 10-20 ms bin`);
  assert.ok(s.p50Ms[2]! > 0 && s.p50Ms[2]! <= 1);
});

test('a slot reused an hour later starts from zero; an hour without calls reads as zeros', () => {
  const c = clock();
  const a = new FunctionActivity(c.now);
  for (let i = 0; i < 5; i++) a.record(200, 0.01, false, 'i');
  c.advance(BUCKETS * BUCKET_MS);
  assert.deepEqual(a.series(1).calls, [0], 'the old bucket is not shown as the new one');
  a.record(200, 0.01, false, 'i');
  assert.deepEqual(a.series(1).calls, [1]);
  assert.equal(
    a.series().calls.reduce((x, y) => x + y, 0),
    1,
  );
  assert.equal(a.series(10_000).calls.length, BUCKETS, 'never more than an hour');
  assert.equal(a.series(0).calls.length, 1, 'at least the current bucket');
});

test('the summary sums a window and gives its rate and quantiles', () => {
  const c = clock();
  const a = new FunctionActivity(c.now);
  for (let i = 0; i < 98; i++) a.record(200, 0.003, false, 'i');
  a.record(503, 2.5, false, 'i');
  a.record(200, 0.003, true, 'i');
  c.advance(BUCKET_MS * 2 + 5000);
  const s = a.summary(30);
  assert.equal(s.calls, 100);
  assert.equal(s.errors, 1);
  assert.equal(s.coldStarts, 1);
  assert.equal(s.spark.length, 30);
  assert.equal(s.spark[27], 100);
  // 29 whole buckets and the 5 s of the current one.
  assert.ok(Math.abs(s.rate - 100 / 295) < 1e-9, `rate ${s.rate}`);
  assert.ok(s.p50Ms! > 2 && s.p50Ms! <= 5, `p50 ${s.p50Ms}`);
  assert.ok(s.p99Ms! > 2 && s.p99Ms! <= 5, `p99 ${s.p99Ms}: 99 of 100 calls are under 5 ms`);
  assert.equal(a.summary(1).calls, 0, 'the current bucket alone is empty');
});

test('recent calls: newest first, the last RECENT_CALLS kept, instance and call id where one served', () => {
  const c = clock();
  const a = new FunctionActivity(c.now);
  assert.deepEqual(a.recent(), []);
  for (let i = 0; i < RECENT_CALLS + 7; i++) {
    c.advance(1);
    const served = i % 5 !== 0;
    a.record(
      200 + (i % 3),
      i / 1000,
      i % 2 === 0,
      served ? `inst-${i}` : undefined,
      served ? `call-${i}` : undefined,
    );
  }
  const recent = a.recent();
  assert.equal(recent.length, RECENT_CALLS);
  const last = RECENT_CALLS + 6;
  assert.deepEqual(recent[0], {
    at: T0 + last + 1,
    status: 200 + (last % 3),
    durationMs: last,
    cold: last % 2 === 0,
    instance: `inst-${last}`,
    callId: `call-${last}`,
  });
  assert.equal(recent.at(-1)!.durationMs, 7, 'the oldest kept is the eighth recorded');
  assert.equal(a.recent(3).length, 3);
  const noInstance = recent.find((r) => r.durationMs === 105)!;
  assert.equal('instance' in noInstance, false, 'a call that reached no instance names none');
  assert.equal('callId' in noInstance, false, 'nor a call id');
});

test('quantile interpolates within a bin; past the last bound it reports the last bound', () => {
  const bins = new Uint32Array(15);
  assert.equal(quantile(bins, 0.5), null);
  bins[0] = 10; // ≤ 1 ms
  assert.equal(quantile(bins, 0.5), 0.5);
  bins[14] = 90; // > 30 s
  assert.equal(quantile(bins, 0.99), 30_000);
  assert.equal(quantile(bins, 0.05), 0.5);
});

test('CallActivity keeps one activity per function id', () => {
  const c = clock();
  const all = new CallActivity(c.now);
  assert.equal(all.get('a'), undefined);
  const a = all.of('a');
  assert.equal(all.of('a'), a);
  a.record(200, 0.001, false, 'i');
  assert.equal(all.get('a')!.recent().length, 1);
  assert.equal(all.of('b.team').recent().length, 0);
});

test('a clock before the first whole bucket still reads (no negative slots)', () => {
  const c = clock(5);
  const a = new FunctionActivity(c.now);
  a.record(200, 0.001, false, 'i');
  const s = a.series(5);
  assert.deepEqual(s.calls, [0, 0, 0, 0, 1]);
});
