// Cron schedules from function specs (croner reads the expressions): each due run is queued through the
// async path (durable, retried, recorded). A run is skipped while the schedule's previous run is still
// queued or running, unless allowOverlap. Misfire policy: runs missed while Nimbus was down (or the
// process stalled) are not replayed one by one — at most one, for the latest missed time, fires at once.
import { Cron } from 'croner';
import type { FunctionSpec } from '../config/function-spec.js';

/** Time and timers, injected so tests drive the schedule without sleeping. */
export interface CronClock {
  now(): number;
  setTimer(fire: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: CronClock = {
  now: () => Date.now(),
  setTimer: (fire, ms) => {
    const timer = setTimeout(fire, ms);
    timer.unref();
    return timer;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What is kept per schedule across restarts. */
export interface CronState {
  expression: string;
  timezone: string | undefined;
  /** The scheduled time (epoch ms) last handled: fired or skipped. */
  lastSlot: number;
  /** The call queued for the last fired run. */
  lastCallId: string | undefined;
}

export interface CronStateStore {
  load(fn: string): CronState | undefined;
  save(fn: string, state: CronState): void;
  remove(fn: string): void;
}

/** The request a scheduled run sends. */
export interface CronRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer;
}

type ScheduledSpec = Pick<FunctionSpec, 'schedule' | 'timezone' | 'payload' | 'allowOverlap'>;

export type CronEvent =
  | { type: 'cron-fired'; name: string; slot: string; callId: string; catchUp: boolean }
  | { type: 'cron-skipped'; name: string; slot: string; runningCallId: string }
  | { type: 'cron-failed'; name: string; slot: string; error: string };

export interface CronSchedulerOptions {
  /** The deployed functions and their specs (read on every sync). */
  functions: () => Iterable<{ name: string; spec: ScheduledSpec }>;
  /** Queues a run; resolves with its call id once durable. */
  submit: (fn: string, request: CronRequest) => Promise<string>;
  /** Whether a call is still queued or running. */
  isPending: (callId: string) => Promise<boolean>;
  state: CronStateStore;
  clock?: CronClock;
  /** How often deploys and removals are picked up. Default 1 s. */
  syncIntervalMs?: number;
  /**
   * Cluster mode: every node runs the schedules and only the node whose claim of a time succeeds fires
   * (or skips) it; the others let it pass. Absent: this node alone decides.
   */
  claim?: (fn: string, slot: number) => Promise<boolean>;
  onEvent?: (event: CronEvent) => void;
}

/** Longest single timer; longer waits are chained (setTimeout's limit is ~24.8 days). */
const MAX_TIMER_MS = 3_600_000;

interface Schedule {
  fn: string;
  key: string;
  cron: Cron;
  state: CronState;
  timer: unknown;
  firing: boolean;
}

export class CronScheduler {
  private readonly o: CronSchedulerOptions;
  private readonly clock: CronClock;
  private readonly schedules = new Map<string, Schedule>();
  private syncTimer: unknown;
  private closed = false;

  constructor(options: CronSchedulerOptions) {
    this.o = options;
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    this.sync();
  }

  /** Picks up schedules added, changed or removed by deploys; fires a missed run (misfire policy). */
  sync(): void {
    if (this.closed) return;
    this.clock.clearTimer(this.syncTimer);
    const seen = new Set<string>();
    for (const { name, spec } of this.o.functions()) {
      if (!spec.schedule) continue;
      seen.add(name);
      const key = scheduleKey(spec);
      if (this.schedules.get(name)?.key === key) continue;
      this.drop(name, false);
      this.add(name, spec.schedule, spec.timezone, key);
    }
    for (const name of [...this.schedules.keys()]) if (!seen.has(name)) this.drop(name, true);
    this.syncTimer = this.clock.setTimer(() => this.sync(), this.o.syncIntervalMs ?? 1000);
  }

  /** The next time `fn`'s schedule fires, if it has one. */
  nextRun(fn: string): Date | undefined {
    const schedule = this.schedules.get(fn);
    return schedule?.cron.nextRun(new Date(this.clock.now())) ?? undefined;
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimer(this.syncTimer);
    for (const name of [...this.schedules.keys()]) this.drop(name, false);
  }

  private add(fn: string, expression: string, timezone: string | undefined, key: string): void {
    const cron = new Cron(expression, { paused: true, ...(timezone ? { timezone } : {}) });
    const now = this.clock.now();
    const stored = this.o.state.load(fn);
    // The same schedule as before a restart keeps its history (for the misfire check); a new or
    // changed one starts now, so it never fires for times before it existed.
    const state: CronState =
      stored && stored.expression === expression && stored.timezone === timezone
        ? stored
        : { expression, timezone, lastSlot: now, lastCallId: stored?.lastCallId };
    if (state !== stored) this.o.state.save(fn, state);
    const schedule: Schedule = { fn, key, cron, state, timer: undefined, firing: false };
    this.schedules.set(fn, schedule);
    this.tick(schedule, true);
  }

  private drop(fn: string, forget: boolean): void {
    const schedule = this.schedules.get(fn);
    if (!schedule) return;
    this.clock.clearTimer(schedule.timer);
    schedule.cron.stop();
    this.schedules.delete(fn);
    if (forget) this.o.state.remove(fn);
  }

  /** Fires the latest due time not handled yet (at most one), then waits for the next. */
  private tick(schedule: Schedule, atStart: boolean): void {
    if (this.closed || this.schedules.get(schedule.fn) !== schedule) return;
    const now = this.clock.now();
    const due = latestSlotAtOrBefore(schedule.cron, now);
    if (due !== undefined && due > schedule.state.lastSlot) {
      const next = schedule.cron.nextRun(new Date(schedule.state.lastSlot));
      // More than one time passed unhandled (downtime, a stall): this run stands for all of them.
      const catchUp = atStart || (next !== null && next.getTime() < due);
      void this.fire(schedule, due, catchUp);
    }
    const next = schedule.cron.nextRun(new Date(now));
    if (next === null) return;
    const waitMs = Math.min(Math.max(next.getTime() - now, 1), MAX_TIMER_MS);
    schedule.timer = this.clock.setTimer(() => this.tick(schedule, false), waitMs);
  }

  private async fire(schedule: Schedule, slot: number, catchUp: boolean): Promise<void> {
    const { fn, state } = schedule;
    const slotIso = new Date(slot).toISOString();
    state.lastSlot = slot;
    const spec = this.specOf(fn);
    if (!spec) return;
    const skip = (runningCallId: string): void => {
      this.o.state.save(fn, state);
      this.o.onEvent?.({ type: 'cron-skipped', name: fn, slot: slotIso, runningCallId });
    };
    if (!spec.allowOverlap && schedule.firing) {
      skip(state.lastCallId ?? '');
      return;
    }
    schedule.firing = true;
    try {
      if (this.o.claim) {
        if (!(await this.o.claim(fn, slot))) return;
        // The last call may have been queued by another node: its record is in the shared state.
        const shared = this.o.state.load(fn);
        if (shared?.lastCallId && shared.lastSlot <= slot) state.lastCallId = shared.lastCallId;
      }
      if (!spec.allowOverlap && state.lastCallId && (await this.o.isPending(state.lastCallId))) {
        skip(state.lastCallId);
        return;
      }
      const callId = await this.o.submit(fn, cronRequest(spec, slot));
      state.lastCallId = callId;
      this.o.state.save(fn, state);
      this.o.onEvent?.({ type: 'cron-fired', name: fn, slot: slotIso, callId, catchUp });
    } catch (err) {
      this.o.state.save(fn, state);
      this.o.onEvent?.({ type: 'cron-failed', name: fn, slot: slotIso, error: (err as Error).message });
    } finally {
      schedule.firing = false;
    }
  }

  private specOf(fn: string): ScheduledSpec | undefined {
    for (const f of this.o.functions()) if (f.name === fn) return f.spec;
    return undefined;
  }
}

function scheduleKey(spec: ScheduledSpec): string {
  return `${spec.schedule}\0${spec.timezone ?? ''}`;
}

/** The latest time of the schedule at or before `at` (epoch ms). */
export function latestSlotAtOrBefore(cron: Cron, at: number): number | undefined {
  // previousRuns is exclusive of its reference; croner's finest step is a second.
  const [previous] = cron.previousRuns(1, new Date(at + 1));
  return previous?.getTime();
}

/** The next run of a spec's schedule after `now`, computed without a scheduler (for views). */
export function nextRunOf(spec: Pick<FunctionSpec, 'schedule' | 'timezone'>, now: number): Date | undefined {
  if (!spec.schedule) return undefined;
  try {
    const cron = new Cron(spec.schedule, {
      paused: true,
      ...(spec.timezone ? { timezone: spec.timezone } : {}),
    });
    const next = cron.nextRun(new Date(now));
    cron.stop();
    return next ?? undefined;
  } catch {
    return undefined;
  }
}

/** The request of a scheduled run: POST / with the payload, and headers naming the schedule and time. */
export function cronRequest(spec: Pick<FunctionSpec, 'schedule' | 'payload'>, slot: number): CronRequest {
  const headers: [string, string][] = [
    ['x-nimbus-schedule', spec.schedule ?? ''],
    ['x-nimbus-scheduled-time', new Date(slot).toISOString()],
    ['user-agent', 'nimbus-cron'],
  ];
  let body = Buffer.alloc(0);
  if (typeof spec.payload === 'string') {
    body = Buffer.from(spec.payload);
    headers.push(['content-type', 'text/plain; charset=utf-8']);
  } else if (spec.payload !== undefined) {
    body = Buffer.from(JSON.stringify(spec.payload));
    headers.push(['content-type', 'application/json']);
  }
  return { method: 'POST', path: '/', headers, body };
}
