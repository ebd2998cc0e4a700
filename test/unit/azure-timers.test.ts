// An Azure Functions app's timers on Nimbus cron, driven by a fake clock: one schedule per timer beside the
// function's own, each run sent to Azure's admin route for its function, UTC unless WEBSITE_TIME_ZONE says
// otherwise, runOnStartup firing once when the schedule is set up, removals forgetting their state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FunctionSpec } from '../../src/config/function-spec.js';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import {
  type CronClock,
  type CronRequest,
  CronScheduler,
  type CronState,
  type CronStateStore,
  schedulesOf,
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

const T0 = Date.parse('2026-03-02T10:00:00.500Z');

function azureSpec(
  timers: { function: string; schedule: string; runOnStartup?: boolean }[],
  extra = {},
): FunctionSpec {
  return parseFunctionSpec({
    handlerStyle: 'azure',
    azure: { routePrefix: 'api', timers },
    ...extra,
  });
}

test('each timer is a schedule of its own, sent to /admin/functions/{name}', async (t) => {
  const specs = new Map<string, FunctionSpec>([
    [
      'app',
      azureSpec([
        { function: 'everySecond', schedule: '* * * * * *' },
        { function: 'everyFive', schedule: '*/5 * * * * *' },
      ]),
    ],
  ]);
  const clock = new FakeClock(T0);
  const state = new MemoryState();
  const submitted: { fn: string; request: CronRequest }[] = [];
  let n = 0;
  const scheduler = new CronScheduler({
    functions: () => [...specs].map(([name, spec]) => ({ name, spec })),
    submit: async (fn, request) => {
      submitted.push({ fn, request });
      return `call-${++n}`;
    },
    isPending: async () => false,
    state,
    clock,
  });
  t.after(() => scheduler.close());
  scheduler.start();
  await settle();
  assert.equal(submitted.length, 0);
  assert.equal(
    scheduler.nextRun('app')?.toISOString(),
    '2026-03-02T10:00:01.000Z',
    'the earliest of its timers',
  );
  await clock.advance(5000);
  const paths = submitted.map((s) => s.request.path);
  assert.equal(paths.filter((p) => p === '/admin/functions/everySecond').length, 5);
  assert.equal(paths.filter((p) => p === '/admin/functions/everyFive').length, 1);
  assert.ok(submitted.every((s) => s.fn === 'app'));
  const five = submitted.find((s) => s.request.path === '/admin/functions/everyFive')!.request;
  const headers = Object.fromEntries(five.headers);
  assert.equal(headers['x-nimbus-scheduled-time'], '2026-03-02T10:00:05.000Z');
  assert.equal(headers['x-nimbus-next-time'], '2026-03-02T10:00:10.000Z');
  assert.equal(headers['x-nimbus-catch-up'], 'false');
  assert.deepEqual([...state.map.keys()].sort(), ['app#everyFive', 'app#everySecond']);

  // A timer removed by a redeploy is dropped and forgotten; the other goes on.
  specs.set('app', azureSpec([{ function: 'everyFive', schedule: '*/5 * * * * *' }]));
  scheduler.sync();
  const before = submitted.length;
  await clock.advance(5000);
  assert.deepEqual(
    submitted.slice(before).map((s) => s.request.path),
    ['/admin/functions/everyFive'],
  );
  assert.deepEqual([...state.map.keys()], ['app#everyFive']);
});

test('runOnStartup fires once when the schedule is set up', async (t) => {
  const specs = new Map([
    ['app', azureSpec([{ function: 'daily', schedule: '0 0 0 * * *', runOnStartup: true }])],
  ]);
  const clock = new FakeClock(T0);
  const submitted: CronRequest[] = [];
  const scheduler = new CronScheduler({
    functions: () => [...specs].map(([name, spec]) => ({ name, spec })),
    submit: async (_fn, request) => {
      submitted.push(request);
      return 'call';
    },
    isPending: async () => false,
    state: new MemoryState(),
    clock,
  });
  t.after(() => scheduler.close());
  scheduler.start();
  await settle();
  assert.equal(submitted.length, 1);
  assert.equal(submitted[0]!.path, '/admin/functions/daily');
  scheduler.sync();
  await clock.advance(3_600_000);
  assert.equal(submitted.length, 1, 'not again while the schedule stays the same');
});

test('Azure timers read UTC unless WEBSITE_TIME_ZONE or the spec names a zone', () => {
  const timers = [{ function: 't', schedule: '0 0 9 * * *' }];
  assert.equal(schedulesOf('app', azureSpec(timers))[0]!.timezone, 'UTC');
  assert.equal(
    schedulesOf('app', azureSpec(timers, { environment: { WEBSITE_TIME_ZONE: 'Europe/Berlin' } }))[0]!
      .timezone,
    'Europe/Berlin',
  );
  assert.equal(
    schedulesOf(
      'app',
      azureSpec(timers, { environment: { WEBSITE_TIME_ZONE: 'W. Europe Standard Time' } }),
    )[0]!.timezone,
    'UTC',
    'a Windows zone name is not an IANA one',
  );
  assert.equal(schedulesOf('app', azureSpec(timers, { timezone: 'Asia/Tokyo' }))[0]!.timezone, 'Asia/Tokyo');
  const both = schedulesOf('app', azureSpec(timers, { schedule: '@hourly' }));
  assert.deepEqual(
    both.map((d) => [d.id, d.path]),
    [
      ['app', '/'],
      ['app#t', '/admin/functions/t'],
    ],
  );
});

test('the azure spec key is checked where it is stored', () => {
  assert.throws(
    () => parseFunctionSpec({ azure: { timers: [] } }),
    /"azure" and "handlerStyle: azure" go together/,
  );
  assert.throws(() => parseFunctionSpec({ handlerStyle: 'azure' }), /go together/);
  assert.throws(
    () => parseFunctionSpec({ runtime: 'python', handlerStyle: 'azure', azure: {} }),
    /runs on runtime node/,
  );
  assert.throws(() => azureSpec([{ function: 't', schedule: 'every day' }]), /invalid schedule "every day"/);
  assert.throws(
    () =>
      parseFunctionSpec({
        handlerStyle: 'azure',
        azure: { http: [{ function: 'h', route: 'a/{b', methods: ['GET'], authLevel: 'anonymous' }] },
      }),
    /azure\.http\.0\.route: "a\/\{b": it has a "\{" without a "\}"/,
  );
  assert.throws(
    () =>
      parseFunctionSpec({
        handlerStyle: 'azure',
        azure: {
          http: [{ function: 'x', route: 'a', methods: ['GET'], authLevel: 'anonymous' }],
          timers: [{ function: 'X', schedule: '* * * * * *' }],
        },
      }),
    /"X" is registered twice/,
  );
  assert.throws(
    () => parseFunctionSpec({ handlerStyle: 'azure', azure: { routePrefix: '/api' } }),
    /routePrefix/,
  );
});
