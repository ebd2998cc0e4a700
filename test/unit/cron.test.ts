// Cron schedules driven by a fake clock: runs at their times through `submit`, the misfire policy (at most
// one missed run after downtime), no overlap unless allowed, deploys and removals picked up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type CronClock,
  type CronEvent,
  type CronRequest,
  CronScheduler,
  type CronState,
  type CronStateStore,
  cronRequest,
  nextRunOf,
} from '../../src/triggers/cron.js';

class FakeClock implements CronClock {
  private timers = new Map<number, { at: number; fire: () => void }>();
  private nextId = 1;
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  setTimer(fire: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fire });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward, firing due timers in order (and letting their promises settle). */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fire: () => void }] | undefined;
      for (const entry of this.timers)
        if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fire();
      await settle();
    }
    this.t = target;
    await settle();
  }
}

const settle = () => new Promise((r) => setImmediate(r));

class MemoryState implements CronStateStore {
  readonly map = new Map<string, CronState>();
  load(fn: string) {
    const s = this.map.get(fn);
    return s && { ...s };
  }
  save(fn: string, state: CronState) {
    this.map.set(fn, { ...state });
  }
  remove(fn: string) {
    this.map.delete(fn);
  }
}

const T0 = Date.parse('2026-03-02T10:00:30.000Z');

function setUp(
  specs: Map<string, { schedule?: string; timezone?: string; payload?: unknown; allowOverlap: boolean }>,
  options: { state?: MemoryState; pending?: Set<string>; t?: number } = {},
) {
  const clock = new FakeClock(options.t ?? T0);
  const state = options.state ?? new MemoryState();
  const pending = options.pending ?? new Set<string>();
  const submitted: { fn: string; request: CronRequest; at: number }[] = [];
  const events: CronEvent[] = [];
  let n = 0;
  const scheduler = new CronScheduler({
    functions: () => [...specs].map(([name, spec]) => ({ name, spec: spec as never })),
    submit: async (fn, request) => {
      submitted.push({ fn, request, at: clock.now() });
      const id = `call-${++n}`;
      pending.add(id);
      return id;
    },
    isPending: async (id) => pending.has(id),
    state,
    clock,
    onEvent: (e) => events.push(e),
  });
  return { clock, state, pending, submitted, events, scheduler };
}

test('runs fire at their times with the payload; a new schedule does not fire for the past', async () => {
  const specs = new Map([['tick', { schedule: '*/5 * * * *', payload: { a: 1 }, allowOverlap: true }]]);
  const { clock, submitted, scheduler, state } = setUp(specs);
  scheduler.start();
  await settle();
  assert.equal(submitted.length, 0);
  assert.equal(scheduler.nextRun('tick')?.toISOString(), '2026-03-02T10:05:00.000Z');
  await clock.advance(4 * 60_000 + 29_000);
  assert.equal(submitted.length, 0);
  await clock.advance(1000);
  assert.equal(submitted.length, 1);
  assert.equal(submitted[0]!.at, Date.parse('2026-03-02T10:05:00.000Z'));
  const { request } = submitted[0]!;
  assert.equal(request.method, 'POST');
  assert.equal(request.body.toString(), '{"a":1}');
  assert.deepEqual(request.headers.slice(0, 2), [
    ['x-nimbus-schedule', '*/5 * * * *'],
    ['x-nimbus-scheduled-time', '2026-03-02T10:05:00.000Z'],
  ]);
  await clock.advance(15 * 60_000);
  assert.deepEqual(
    submitted.map((s) => new Date(s.at).toISOString().slice(11, 16)),
    ['10:05', '10:10', '10:15', '10:20'],
  );
  assert.equal(state.map.get('tick')!.lastSlot, Date.parse('2026-03-02T10:20:00.000Z'));
  scheduler.close();
});

test('misfire: after downtime exactly one missed run fires at start, then the schedule goes on', async () => {
  const state = new MemoryState();
  state.save('tick', {
    expression: '0 * * * *',
    timezone: undefined,
    lastSlot: T0 - 5 * 3_600_000,
    lastCallId: undefined,
  });
  const specs = new Map([['tick', { schedule: '0 * * * *', allowOverlap: false }]]);
  const { clock, submitted, events, scheduler } = setUp(specs, { state });
  scheduler.start();
  await settle();
  assert.equal(submitted.length, 1, 'five hours of missed runs fire once');
  assert.equal(
    submitted[0]!.request.headers[1]![1],
    '2026-03-02T10:00:00.000Z',
    'for the latest missed time',
  );
  assert.deepEqual(
    events.map((e) => e.type === 'cron-fired' && e.catchUp),
    [true],
  );
  await clock.advance(3_600_000);
  assert.equal(submitted.length, 1, 'the next run is skipped: the caught-up one is still pending');
  scheduler.close();
});

test('a changed schedule starts afresh: no catch-up for times of the old one', async () => {
  const state = new MemoryState();
  state.save('tick', {
    expression: '0 * * * *',
    timezone: undefined,
    lastSlot: T0 - 5 * 3_600_000,
    lastCallId: undefined,
  });
  const specs = new Map([['tick', { schedule: '30 * * * *', allowOverlap: false }]]);
  const { submitted, scheduler, state: s } = setUp(specs, { state });
  scheduler.start();
  await settle();
  assert.equal(submitted.length, 0);
  assert.equal(s.map.get('tick')!.expression, '30 * * * *');
  scheduler.close();
});

test('no overlap: a run is skipped while the previous one is pending, unless allowOverlap', async () => {
  const specs = new Map([['job', { schedule: '* * * * *', allowOverlap: false }]]);
  const { clock, submitted, events, pending, scheduler } = setUp(specs);
  scheduler.start();
  await clock.advance(30_000);
  assert.equal(submitted.length, 1);
  await clock.advance(60_000);
  assert.equal(submitted.length, 1);
  assert.deepEqual(events.at(-1), {
    type: 'cron-skipped',
    name: 'job',
    slot: '2026-03-02T10:02:00.000Z',
    runningCallId: 'call-1',
  });
  pending.delete('call-1');
  await clock.advance(60_000);
  assert.equal(submitted.length, 2);
  specs.set('job', { schedule: '* * * * *', allowOverlap: true });
  await clock.advance(120_000);
  assert.equal(submitted.length, 4, 'with allowOverlap every run fires');
  scheduler.close();
});

test('deploys and removals are picked up; the time zone is honoured', async () => {
  const specs = new Map<string, { schedule?: string; timezone?: string; allowOverlap: boolean }>();
  const { clock, submitted, scheduler, state } = setUp(specs);
  scheduler.start();
  specs.set('tokyo', { schedule: '0 20 * * *', timezone: 'Asia/Tokyo', allowOverlap: true });
  await clock.advance(1000);
  assert.equal(scheduler.nextRun('tokyo')?.toISOString(), '2026-03-02T11:00:00.000Z');
  assert.equal(
    nextRunOf({ schedule: '0 20 * * *', timezone: 'Asia/Tokyo' }, T0)?.toISOString(),
    '2026-03-02T11:00:00.000Z',
  );
  await clock.advance(3_600_000);
  assert.equal(submitted.length, 1);
  specs.delete('tokyo');
  await clock.advance(1000);
  assert.equal(scheduler.nextRun('tokyo'), undefined);
  assert.equal(state.map.has('tokyo'), false);
  await clock.advance(86_400_000);
  assert.equal(submitted.length, 1);
  scheduler.close();
});

test('the request of a run: a string payload is text, none is an empty body', () => {
  const text = cronRequest({ schedule: '@hourly', payload: 'hi' }, T0);
  assert.equal(text.body.toString(), 'hi');
  assert.deepEqual(text.headers.at(-1), ['content-type', 'text/plain; charset=utf-8']);
  const none = cronRequest({ schedule: '@hourly', payload: undefined }, T0);
  assert.equal(none.body.length, 0);
  assert.equal(
    none.headers.some(([k]) => k === 'content-type'),
    false,
  );
});
