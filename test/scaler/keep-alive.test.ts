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
