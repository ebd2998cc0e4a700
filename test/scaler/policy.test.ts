// The KPA decision on synthetic load traces, with injected time: stable and panic windows, bounds, step rates.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decideScale,
  INITIAL_SCALE_STATE,
  type Sample,
  type ScalePolicy,
  type ScaleState,
  windowAverage,
} from '../../src/scaler/policy.js';

const POLICY: ScalePolicy = {
  minInstances: 0,
  maxInstances: 100,
  targetConcurrency: 1,
  utilisation: 1,
  stableWindowMs: 60_000,
  panicWindowMs: 6_000,
  panicThreshold: 2,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
};

/** Runs a trace (concurrency per 1-second tick) through the policy, applying each decision at once. */
function replay(trace: number[], policy: ScalePolicy = POLICY, startReady = 0) {
  const samples: Sample[] = [];
  let state: ScaleState = { ...INITIAL_SCALE_STATE };
  let ready = startReady;
  const out: { desired: number; panic: boolean }[] = [];
  trace.forEach((concurrency, i) => {
    const now = (i + 1) * 1000;
    samples.push({ at: now, concurrency });
    const d = decideScale(samples, ready, policy, state, now);
    state = d.state;
    ready = d.desired;
    out.push({ desired: d.desired, panic: d.panic });
  });
  return out;
}

test('window averages only count samples inside the window', () => {
  const samples = [
    { at: 1000, concurrency: 10 },
    { at: 5000, concurrency: 2 },
    { at: 6000, concurrency: 4 },
  ];
  assert.equal(windowAverage(samples, 6000, 2000), 3);
  assert.equal(windowAverage(samples, 6000, 60_000), 16 / 3);
  assert.equal(windowAverage([], 6000, 2000), 0);
});

test('steady load: desired = concurrency ÷ (target × utilisation)', () => {
  const policy = { ...POLICY, targetConcurrency: 10, utilisation: 0.7 };
  const out = replay(Array(30).fill(35), policy, 5);
  assert.equal(out.at(-1)!.desired, 5); // 35 / 7
  assert.equal(out.at(-1)!.panic, false);
});

test('a step to 2× what the instances carry enters panic and scales on the short window', () => {
  const trace = [...Array(60).fill(4), ...Array(5).fill(40)];
  const out = replay(trace, POLICY, 4);
  assert.equal(out[59]!.desired, 4);
  const stepIndex = out.findIndex((d, i) => i >= 60 && d.panic);
  assert.ok(stepIndex >= 60 && stepIndex <= 61, `panic within two ticks of the step (tick ${stepIndex})`);
  // The stable average (60 s) would still say ~5; the panic window says 40 within the 6 s window.
  assert.ok(out[64]!.desired >= 30, `scaled on the panic window: ${out[64]!.desired}`);
});

test('in panic the count never goes down', () => {
  const trace = [...Array(10).fill(2), ...Array(4).fill(20), ...Array(20).fill(1)];
  const out = replay(trace, POLICY, 2);
  const firstPanic = out.findIndex((d) => d.panic);
  let max = 0;
  for (let i = firstPanic; i < out.length && out[i]!.panic; i++) {
    assert.ok(out[i]!.desired >= max, `tick ${i}: ${out[i]!.desired} >= ${max}`);
    max = out[i]!.desired;
  }
});

test('panic ends a stable window after the last panic condition; then it scales down at most 2× per step', () => {
  const policy = { ...POLICY, stableWindowMs: 10_000, panicWindowMs: 2000 };
  const trace = [...Array(3).fill(1), ...Array(3).fill(16), ...Array(40).fill(0)];
  const out = replay(trace, policy, 1);
  const lastPanic = out.map((d) => d.panic).lastIndexOf(true);
  assert.ok(lastPanic > 5 && lastPanic < 20, `panic ended (last at tick ${lastPanic})`);
  for (let i = lastPanic + 2; i < out.length; i++) {
    const prev = out[i - 1]!.desired;
    assert.ok(
      out[i]!.desired >= Math.floor(prev / 2),
      `tick ${i}: ${prev} → ${out[i]!.desired} halves at most`,
    );
  }
  assert.equal(out.at(-1)!.desired, 0, 'and reaches zero when the load is gone');
});

test('min and max bound the count', () => {
  assert.equal(replay(Array(5).fill(0), { ...POLICY, minInstances: 2 }, 2).at(-1)!.desired, 2);
  assert.equal(replay(Array(5).fill(500), { ...POLICY, maxInstances: 7 }, 7).at(-1)!.desired, 7);
});

test('scale-up is bounded by the up rate', () => {
  const out = replay([1, 100], { ...POLICY, maxScaleUpRate: 3, panicThreshold: 1000 }, 1);
  assert.equal(out[1]!.desired, 3);
});

test('time is injected: the same samples give the same decision', () => {
  const samples = [{ at: 1000, concurrency: 3 }];
  const a = decideScale(samples, 1, POLICY, INITIAL_SCALE_STATE, 1000);
  const b = decideScale(samples, 1, POLICY, INITIAL_SCALE_STATE, 1000);
  assert.deepEqual(a, b);
});
