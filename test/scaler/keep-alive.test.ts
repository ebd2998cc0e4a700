// Keep-alive decisions: fixed idle timeout, and the hybrid histogram policy with its fallback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_KEEP_ALIVE,
  IdleHistogram,
  keepAliveWindows,
  wantsWarm,
} from '../../src/scaler/keep-alive.js';

const MIN = 60_000;

test('fixed: warm until the idle timeout after the last call', () => {
  const w = keepAliveWindows('fixed', undefined, { ...DEFAULT_KEEP_ALIVE, idleTimeoutMs: 10 * MIN });
  assert.deepEqual(w, { mode: 'fixed', prewarmMs: 0, keepAliveMs: 10 * MIN, ranges: [[0, 10 * MIN]] });
  assert.equal(wantsWarm(w, 0, 9 * MIN), true);
  assert.equal(wantsWarm(w, 0, 10 * MIN), false);
  assert.equal(wantsWarm(w, undefined, 0), false);
});

test('hybrid: a function called every ~30 minutes is pre-warmed near 30 and kept to the tail', () => {
  const h = new IdleHistogram(DEFAULT_KEEP_ALIVE);
  for (let i = 0; i < 50; i++) h.add((29 + (i % 3)) * MIN + 1000);
  const w = keepAliveWindows('hybrid', h, DEFAULT_KEEP_ALIVE);
  assert.equal(w.mode, 'hybrid');
  assert.ok(
    w.prewarmMs >= 25 * MIN && w.prewarmMs <= 29 * MIN,
    `prewarm at the head minus margin: ${w.prewarmMs / MIN} min`,
  );
  assert.ok(w.prewarmMs + w.keepAliveMs >= 32 * MIN, 'kept until past the tail');
  assert.equal(wantsWarm(w, 0, 5 * MIN), false, 'cold right after the call: no memory wasted');
  assert.equal(wantsWarm(w, 0, 30 * MIN), true, 'warm when the next call is due');
  assert.equal(wantsWarm(w, 0, 40 * MIN), false);
});

test('hybrid falls back to fixed when the histogram is not representative', () => {
  const config = { ...DEFAULT_KEEP_ALIVE, idleTimeoutMs: 10 * MIN };
  const few = new IdleHistogram(config);
  for (let i = 0; i < 3; i++) few.add(5 * MIN);
  assert.equal(keepAliveWindows('hybrid', few, config).mode, 'fixed', 'too few samples');
  const flat = new IdleHistogram(config);
  for (let i = 0; i < 240 * 3; i++) flat.add((i % 240) * MIN);
  assert.equal(keepAliveWindows('hybrid', flat, config).mode, 'fixed', 'flat: no pattern');
  const far = new IdleHistogram(config);
  for (let i = 0; i < 20; i++) far.add(10 * 60 * MIN);
  assert.equal(keepAliveWindows('hybrid', far, config).mode, 'fixed', 'idle times past the 4-hour range');
});

test('hybrid for frequent calls keeps warm from the end of the call', () => {
  const h = new IdleHistogram(DEFAULT_KEEP_ALIVE);
  for (let i = 0; i < 100; i++) h.add(2000);
  const w = keepAliveWindows('hybrid', h, DEFAULT_KEEP_ALIVE);
  assert.equal(w.prewarmMs, 0);
  assert.ok(w.keepAliveMs >= MIN);
  assert.equal(wantsWarm(w, 0, 1000), true);
});

test('percentiles read the bins', () => {
  const h = new IdleHistogram({ binMs: 1000, bins: 10 });
  for (const ms of [500, 1500, 1500, 2500, 9500]) h.add(ms);
  assert.equal(h.percentile(20, 'lower'), 0);
  assert.equal(h.percentile(60, 'upper'), 2000);
  assert.equal(h.percentile(100, 'upper'), 10_000);
});

test('hybrid: bursts hours apart get one warm range per cluster, cold in between', () => {
  const h = new IdleHistogram(DEFAULT_KEEP_ALIVE);
  // Inside a burst: a minute between calls; between bursts: about three hours.
  for (let i = 0; i < 200; i++) h.add(30_000);
  for (let i = 0; i < 20; i++) h.add(180 * MIN + (i % 3) * MIN);
  const w = keepAliveWindows('hybrid', h, DEFAULT_KEEP_ALIVE);
  assert.equal(w.mode, 'hybrid');
  assert.equal(w.ranges.length, 2, JSON.stringify(w.ranges));
  assert.equal(wantsWarm(w, 0, 30_000), true, 'warm inside a burst');
  assert.equal(wantsWarm(w, 0, 60 * MIN), false, 'cold between bursts');
  assert.equal(wantsWarm(w, 0, 180 * MIN), true, 'pre-warmed for the next burst');
  assert.equal(wantsWarm(w, 0, 240 * MIN), false);
});

/** A histogram of `n` idle times spread as an exponential distribution with this mean (its quantiles). */
function exponential(meanMs: number, n: number): IdleHistogram {
  const h = new IdleHistogram(DEFAULT_KEEP_ALIVE);
  for (let i = 0; i < n; i++) h.add(-meanMs * Math.log(1 - (i + 0.5) / n));
  return h;
}

test('hybrid trims by cost: what a cold start is worth decides whether random calls are waited for', () => {
  // Idle times averaging 20 minutes: the paper's windows keep an instance warm ~90 minutes after every
  // call. A warm minute catches about 1/20 of the idle periods that reach it: worth it when a cold start
  // counts as 30 minutes of warm time, not when it counts as 10.
  const h = exponential(20 * MIN, 300);
  const untrimmed = keepAliveWindows('hybrid', h, { ...DEFAULT_KEEP_ALIVE, costTrim: false });
  assert.ok(untrimmed.prewarmMs + untrimmed.keepAliveMs > 80 * MIN, JSON.stringify(untrimmed.ranges));
  const cheap = keepAliveWindows('hybrid', h, { ...DEFAULT_KEEP_ALIVE, coldStartWorth: 1 });
  assert.equal(wantsWarm(cheap, 0, 5 * MIN), false, JSON.stringify(cheap.ranges));
  assert.equal(wantsWarm(cheap, 0, 40 * MIN), false, JSON.stringify(cheap.ranges));
  const dear = keepAliveWindows('hybrid', h, { ...DEFAULT_KEEP_ALIVE, coldStartWorth: 3 });
  assert.equal(wantsWarm(dear, 0, 5 * MIN), true, JSON.stringify(dear.ranges));
  assert.equal(wantsWarm(dear, 0, 40 * MIN), true, JSON.stringify(dear.ranges));
});

test('hybrid trims by cost: frequent random calls are kept warm past the idle timeout', () => {
  // Idle times averaging 3 minutes: every warm minute up to the 99th percentile (~14 minutes) catches
  // more calls than it costs, so the window reaches past the fixed 10 minutes.
  const w = keepAliveWindows('hybrid', exponential(3 * MIN, 300), DEFAULT_KEEP_ALIVE);
  assert.equal(w.mode, 'hybrid');
  assert.equal(w.prewarmMs, 0);
  assert.ok(w.keepAliveMs > 12 * MIN && w.keepAliveMs <= 16 * MIN, `${w.keepAliveMs / MIN} min`);
});

test('hybrid trims by cost: bursts at irregular hours are not waited for right after a burst', () => {
  const h = new IdleHistogram(DEFAULT_KEEP_ALIVE);
  for (let i = 0; i < 200; i++) h.add(20_000);
  // Between bursts: 20 idle times spread from 1 to 3 hours, 7 minutes apart.
  for (let i = 0; i < 20; i++) h.add((60 + 7 * i) * MIN);
  const untrimmed = keepAliveWindows('hybrid', h, { ...DEFAULT_KEEP_ALIVE, costTrim: false });
  assert.equal(wantsWarm(untrimmed, 0, 100 * MIN), true, 'the paper keeps warm through the spread');
  const w = keepAliveWindows('hybrid', h, DEFAULT_KEEP_ALIVE);
  assert.deepEqual(w.ranges[0], [0, 2 * MIN], 'the in-burst window and its margin');
  assert.equal(wantsWarm(w, 0, 30_000), true, 'warm inside a burst');
  assert.equal(wantsWarm(w, 0, 5 * MIN), false, 'cold after the burst, where fixed would wait 10 minutes');
  assert.equal(wantsWarm(w, 0, 100 * MIN), false, 'cold while few of the waits would end soon');
  // Past ~2.7 hours most idle periods still open end within minutes: worth a warm instance.
  assert.equal(wantsWarm(w, 0, 175 * MIN), true, JSON.stringify(w.ranges));
});

test('hybrid pre-warms a 2-hourly timer for a few minutes rather than waiting 10 after each run', () => {
  const h = new IdleHistogram(DEFAULT_KEEP_ALIVE);
  for (let i = 0; i < 12; i++) h.add(120 * MIN - 2000);
  const w = keepAliveWindows('hybrid', h, DEFAULT_KEEP_ALIVE);
  assert.deepEqual(w.ranges, [[118 * MIN, 121 * MIN]]);
  assert.equal(wantsWarm(w, 0, 5 * MIN), false);
  assert.equal(wantsWarm(w, 0, 120 * MIN - 2000), true);
});
