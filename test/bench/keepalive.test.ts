// The keep-alive replay harness of `npm run bench`: the Azure trace reader and writer, the synthetic
// generator, and the replay of the platform's policy code on small traces with hand-counted results.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateTrace, rateSpread } from '../../bench/keepalive/generate.js';
import { policies, replayFunction, summarise } from '../../bench/keepalive/replay.js';
import {
  dayRows,
  formatTraceDay,
  joinDays,
  MINUTES_PER_DAY,
  parseTraceDay,
  TraceFormatError,
  type TraceRow,
} from '../../bench/keepalive/trace.js';
import { DEFAULT_KEEP_ALIVE } from '../../src/scaler/keep-alive.js';

const HEADER = `HashOwner,HashApp,HashFunction,Trigger,${Array.from({ length: MINUTES_PER_DAY }, (_, i) => i + 1).join(',')}`;

/** A day's CSV line with the given counts at the given minutes (0-based), zeros elsewhere. */
function line(fn: string, trigger: string, at: Record<number, number>): string {
  const counts = Array.from({ length: MINUTES_PER_DAY }, (_, m) => at[m] ?? 0);
  return `o1,a1,${fn},${trigger},${counts.join(',')}`;
}

/** Counts over `minutes` with `calls` at the given minutes. */
function series(minutes: number, at: Record<number, number>): Uint32Array {
  const counts = new Uint32Array(minutes);
  for (const [m, n] of Object.entries(at)) counts[Number(m)] = n;
  return counts;
}

const FIXED = policies().fixed!;
const HYBRID = policies().hybrid!;

test('the reader parses a day file of the Azure Functions 2019 trace', () => {
  const text = `${HEADER}\r\n${line('f1', 'http', { 0: 3, 1439: 1 })}\r\n${line('f2', 'timer', { 60: 1 })}\r\n\r\n`;
  const rows = parseTraceDay(text);
  assert.equal(rows.length, 2);
  assert.deepEqual(
    rows.map((r) => [r.owner, r.app, r.fn, r.trigger]),
    [
      ['o1', 'a1', 'f1', 'http'],
      ['o1', 'a1', 'f2', 'timer'],
    ],
  );
  assert.equal(rows[0]!.counts.length, MINUTES_PER_DAY);
  assert.equal(rows[0]!.counts[0], 3);
  assert.equal(rows[0]!.counts[1439], 1);
  assert.equal(
    rows[1]!.counts.reduce((a, b) => a + b, 0),
    1,
  );
});

test('the reader refuses what is not the trace format, naming the line', () => {
  assert.throws(
    () => parseTraceDay('a,b,c\n'),
    (err: Error) => err instanceof TraceFormatError && /:1: the header/.test(err.message),
  );
  assert.throws(
    () => parseTraceDay(`${HEADER}\no1,a1,f1,http,1,2\n`, 'd01.csv'),
    /d01\.csv:2: 6 columns, expected 1444/,
  );
  const bad = line('f1', 'http', {}).replace(/,0$/, ',x');
  assert.throws(() => parseTraceDay(`${HEADER}\n${bad}\n`), /:2: minute 1440 holds "x", not a count/);
  const negative = line('f1', 'http', {}).replace(/,0$/, ',-1');
  assert.throws(() => parseTraceDay(`${HEADER}\n${negative}\n`), /minute 1440 holds "-1"/);
});

test('days are joined per function; a day without a function counts zero; the writer round-trips', () => {
  const day1 = parseTraceDay(
    `${HEADER}\n${line('f1', 'http', { 5: 2 })}\n${line('f2', 'queue', { 0: 1 })}\n`,
  );
  // f1 twice on day 2 (the published trace repeats a few functions): the rows add up.
  const day2 = parseTraceDay(
    `${HEADER}\n${line('f1', 'http', { 5: 1 })}\n${line('f1', 'http', { 5: 4, 7: 1 })}\n`,
  );
  const joined = joinDays([day1, day2]);
  assert.deepEqual(
    joined.map((f) => f.fn),
    ['f1', 'f2'],
  );
  const f1 = joined[0]!;
  assert.equal(f1.counts.length, 2 * MINUTES_PER_DAY);
  assert.equal(f1.counts[5], 2);
  assert.equal(f1.counts[MINUTES_PER_DAY + 5], 5);
  assert.equal(f1.counts[MINUTES_PER_DAY + 7], 1);
  assert.equal(
    joined[1]!.counts.slice(MINUTES_PER_DAY).reduce((a, b) => a + b, 0),
    0,
  );

  const rows: TraceRow[] = dayRows(joined, 1);
  const again = parseTraceDay(formatTraceDay(rows));
  assert.deepEqual(
    again.map((r) => [r.fn, r.trigger, [...r.counts].reduce((a, b) => a + b, 0)]),
    [
      ['f1', 'http', 6],
      ['f2', 'queue', 0],
    ],
  );
});

test('the generator is deterministic per seed and spreads rates from a few a day to many a second', () => {
  const a = generateTrace({ functions: 1000, days: 2, seed: 7 });
  const b = generateTrace({ functions: 1000, days: 2, seed: 7 });
  const c = generateTrace({ functions: 300, days: 2, seed: 8 });
  assert.equal(a.length, 1000);
  assert.ok(a.every((f) => f.counts.length === 2 * MINUTES_PER_DAY));
  assert.deepEqual(
    a.map((f) => [f.fn, f.trigger, [...f.counts].join()]),
    b.map((f) => [f.fn, f.trigger, [...f.counts].join()]),
  );
  assert.notDeepEqual(
    a.map((f) => f.fn),
    c.map((f) => f.fn),
  );
  const kinds = new Set(a.map((f) => f.kind));
  assert.deepEqual([...kinds].sort(), ['bursty', 'periodic', 'steady']);
  assert.ok(a.filter((f) => f.kind === 'periodic').every((f) => f.trigger === 'timer'));
  const spread = rateSpread(a);
  assert.ok(spread.minPerDay < 5, `the rarest function is called ${spread.minPerDay} times a day`);
  assert.ok(spread.maxPerSecond > 1, `the busiest function is called ${spread.maxPerSecond} times a second`);
  assert.ok(spread.atMostPerMinute > 0.5, 'most functions are called at most once a minute');
});

test('rateSpread counts hourly, per-minute and per-second functions', () => {
  const minutes = 120;
  const spread = rateSpread([
    { owner: 'o', app: 'a', fn: 'rare', trigger: 'http', counts: series(minutes, { 0: 1 }) },
    { owner: 'o', app: 'a', fn: 'busy', trigger: 'http', counts: new Uint32Array(minutes).fill(120) },
  ]);
  assert.equal(spread.atMostHourly, 0.5);
  assert.equal(spread.atMostPerMinute, 0.5);
  assert.equal(spread.atLeastPerSecond, 0.5);
  assert.equal(spread.maxPerSecond, 2);
  assert.equal(spread.minPerDay, 12);
});

test('fixed 10 minutes: warm until 10 minutes after a call, cold after', () => {
  // Calls at minutes 0, 5 and 20 of 30.
  const r = replayFunction(series(30, { 0: 2, 5: 1, 20: 3 }), FIXED);
  assert.deepEqual(r, {
    invocations: 6,
    coldStarts: 2, // 0 and 20 (15 minutes after 5)
    busyMinutes: 3,
    idleWarmMinutes: 4 + 9 + 9, // 1-4, 6-14, 21-29
    idleWarmPastFixedMinutes: 0,
    prewarms: 0,
    hybridMinutes: 0,
  });
});

test('hybrid: a 30-minute timer runs on the fixed fallback for 10 idle times, then is pre-warmed', () => {
  // 20 calls, every 30 minutes, over 600 minutes.
  const at: Record<number, number> = {};
  for (let m = 0; m < 600; m += 30) at[m] = 1;
  const counts = series(600, at);
  // Fixed: every call is 30 minutes after the last, past the 10-minute keep-alive.
  assert.deepEqual(replayFunction(counts, FIXED), {
    invocations: 20,
    coldStarts: 20,
    busyMinutes: 20,
    idleWarmMinutes: 20 * 9,
    idleWarmPastFixedMinutes: 0,
    prewarms: 0,
    hybridMinutes: 0,
  });
  // Hybrid: the call at 300 brings the 10th idle time; from then every idle time sits in the 30-minute bin,
  // so the window is that bin plus the one-bin margin: warm from 29 to 32 minutes after the call. Calls
  // 0-300 are cold (11); the 9 after are warm. Idle instance-minutes: 9 after each of the 10 calls on the
  // fallback, then 1 (29 minutes after the call, a pre-warm) after each of the 10 calls from 300 on.
  assert.deepEqual(replayFunction(counts, HYBRID), {
    invocations: 20,
    coldStarts: 11,
    busyMinutes: 20,
    idleWarmMinutes: 10 * 9 + 10 * 1,
    idleWarmPastFixedMinutes: 10 * 1,
    prewarms: 10,
    hybridMinutes: 600 - 301,
  });
});

test('sampling every gap between calls feeds the histogram with sub-minute idle times', () => {
  // 12 calls in minute 0 (11 gaps of 5 s), one at minute 3. Sampled per minute there is no idle time
  // yet (fixed fallback: minute 3 is warm); sampled per call the 11 gaps make the histogram
  // representative: warm for 2 minutes (the first bin and the margin) after the last call (at 55 s), so minute 3 is cold.
  const counts = series(5, { 0: 12, 3: 1 });
  const perMinute = replayFunction(counts, HYBRID);
  const perCall = replayFunction(counts, { ...HYBRID, sampling: 'calls' });
  assert.equal(perMinute.coldStarts, 1);
  assert.equal(perCall.coldStarts, 2);
  // Per call: minutes 1 and 2 (5 s and 65 s after the call at 55 s; the window is the first bin plus the
  // margin, 2 minutes), and 4 (the 125-s idle time widened it to 4 minutes). Per minute: the fixed fallback keeps minutes 1, 2 and 4.
  assert.equal(perCall.idleWarmMinutes, 3);
  assert.equal(perCall.hybridMinutes, 4);
  assert.equal(perMinute.idleWarmMinutes, 3);
  assert.equal(perMinute.hybridMinutes, 0);
});

test('summarise adds the functions up', () => {
  const results = [
    replayFunction(series(30, { 0: 2, 5: 1, 20: 3 }), FIXED),
    replayFunction(series(30, { 10: 4 }), FIXED),
    replayFunction(series(30, {}), FIXED),
  ];
  const s = summarise(results, 30);
  assert.equal(s.functions, 3);
  assert.equal(s.invocations, 10);
  assert.equal(s.coldStarts, 3);
  assert.equal(s.coldStartRate, 0.3);
  // Per-function cold-start rates 2/6 and 1/4 (the function never called has none): p75 is 1/3.
  assert.equal(s.p75FunctionColdRate, 2 / 6);
  assert.equal(s.memoryMinutes, 3 + 22 + 1 + 9);
  assert.equal(s.idleWarmMinutes, 31);
  assert.equal(s.hybridShare, 0);
  assert.equal(DEFAULT_KEEP_ALIVE.idleTimeoutMs, 600_000, 'fixed is the 10-minute keep-alive');
});
