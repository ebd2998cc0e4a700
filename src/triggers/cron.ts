// Cron schedules from function specs (croner reads the expressions): each due run is queued through the
// async path (durable, retried, recorded). A run is skipped while the schedule's previous run is still
// queued or running, unless allowOverlap. Misfire policy: runs missed while Nimbus was down (or the
// process stalled) are not replayed one by one — at most one, for the latest missed time, fires at once.
// A function has its own `schedule` and, for an Azure Functions app, one per timer it registers.
import { Cron } from 'croner';
import type { FunctionSpec } from '../config/function-spec.js';
import { azureTimerSchedules } from '../runtimes/azure/azure-timers.js';

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

type ScheduledSpec = Pick<FunctionSpec, 'schedule' | 'timezone' | 'payload' | 'allowOverlap'> &
  Partial<Pick<FunctionSpec, 'azure' | 'environment'>>;

/** One schedule of a function. */
export interface ScheduleDef {
  /** Its key in the scheduler and the state store: the function's name for its own `schedule`. */
  id: string;
  fn: string;
  expression: string;
  timezone: string | undefined;
  /** The path a run is sent to. */
  path: string;
  payload: FunctionSpec['payload'];
  allowOverlap: boolean;
  /** Also fire once when the schedule is set up (deploy, Nimbus start). */
  runOnStartup: boolean;
}

/** The schedules a function's spec asks for. */
export function schedulesOf(fn: string, spec: ScheduledSpec): ScheduleDef[] {
  const own: ScheduleDef[] = spec.schedule
    ? [
        {
          id: fn,
          fn,
          expression: spec.schedule,
          timezone: spec.timezone,
          path: '/',
          payload: spec.payload,
          allowOverlap: spec.allowOverlap,
          runOnStartup: false,
        },
      ]
    : [];
  return spec.azure ? [...own, ...azureTimerSchedules(fn, spec)] : own;
}

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
  def: ScheduleDef;
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
      if (!spec.schedule && !spec.azure) continue;
      for (const def of schedulesOf(name, spec)) {
        seen.add(def.id);
        const key = scheduleKey(def);
        if (this.schedules.get(def.id)?.key === key) continue;
        this.drop(def.id, false);
        this.add(def, key);
      }
    }
    for (const id of [...this.schedules.keys()]) if (!seen.has(id)) this.drop(id, true);
    this.syncTimer = this.clock.setTimer(() => this.sync(), this.o.syncIntervalMs ?? 1000);
  }

  /** The next time one of `fn`'s schedules fires, if it has any. */
  nextRun(fn: string): Date | undefined {
    const now = new Date(this.clock.now());
    const own = this.schedules.get(fn);
    if (own) return own.cron.nextRun(now) ?? undefined;
    let next: Date | undefined;
    for (const schedule of this.schedules.values()) {
      if (schedule.def.fn !== fn) continue;
      const at = schedule.cron.nextRun(now);
      if (at && (!next || at < next)) next = at;
    }
    return next;
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimer(this.syncTimer);
    for (const id of [...this.schedules.keys()]) this.drop(id, false);
  }

  private add(def: ScheduleDef, key: string): void {
    const { id, expression, timezone } = def;
    const cron = new Cron(expression, { paused: true, ...(timezone ? { timezone } : {}) });
    const now = this.clock.now();
    const stored = this.o.state.load(id);
    // The same schedule as before a restart keeps its history (for the misfire check); a new or
    // changed one starts now, so it never fires for times before it existed.
    const state: CronState =
      stored && stored.expression === expression && stored.timezone === timezone
        ? stored
        : { expression, timezone, lastSlot: now, lastCallId: stored?.lastCallId };
    if (state !== stored) this.o.state.save(id, state);
    const schedule: Schedule = { def, key, cron, state, timer: undefined, firing: false };
    this.schedules.set(id, schedule);
    const caughtUp = this.tick(schedule, true);
    if (def.runOnStartup && !caughtUp) void this.fire(schedule, now, false);
  }

  private drop(id: string, forget: boolean): void {
    const schedule = this.schedules.get(id);
    if (!schedule) return;
    this.clock.clearTimer(schedule.timer);
    schedule.cron.stop();
    this.schedules.delete(id);
    if (forget) this.o.state.remove(id);
  }

  /** Fires the latest due time not handled yet (at most one), then waits for the next; true when it fired. */
  private tick(schedule: Schedule, atStart: boolean): boolean {
    if (this.closed || this.schedules.get(schedule.def.id) !== schedule) return false;
    const now = this.clock.now();
    const due = latestSlotAtOrBefore(schedule.cron, now);
    let fired = false;
    if (due !== undefined && due > schedule.state.lastSlot) {
      const next = schedule.cron.nextRun(new Date(schedule.state.lastSlot));
      // More than one time passed unhandled (downtime, a stall): this run stands for all of them.
      const catchUp = atStart || (next !== null && next.getTime() < due);
      void this.fire(schedule, due, catchUp);
      fired = true;
    }
    const next = schedule.cron.nextRun(new Date(now));
    if (next === null) return fired;
    const waitMs = Math.min(Math.max(next.getTime() - now, 1), MAX_TIMER_MS);
    schedule.timer = this.clock.setTimer(() => this.tick(schedule, false), waitMs);
    return fired;
  }

  private async fire(schedule: Schedule, slot: number, catchUp: boolean): Promise<void> {
    const { state } = schedule;
    const { id, fn } = schedule.def;
    const slotIso = new Date(slot).toISOString();
    state.lastSlot = slot;
    const spec = this.defOf(fn, id);
    if (!spec) return;
    const skip = (runningCallId: string): void => {
      this.o.state.save(id, state);
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
      const next = schedule.cron.nextRun(new Date(slot))?.getTime();
      const request = cronRequest(
        { schedule: spec.expression, payload: spec.payload, path: spec.path },
        slot,
        spec.id === fn ? {} : { next, catchUp },
      );
      const callId = await this.o.submit(fn, request);
      state.lastCallId = callId;
      this.o.state.save(id, state);
      this.o.onEvent?.({ type: 'cron-fired', name: fn, slot: slotIso, callId, catchUp });
    } catch (err) {
      this.o.state.save(id, state);
      this.o.onEvent?.({ type: 'cron-failed', name: fn, slot: slotIso, error: (err as Error).message });
    } finally {
      schedule.firing = false;
    }
  }

  /** The schedule as the function's current spec has it (payload and overlap may change without a reset). */
  private defOf(fn: string, id: string): ScheduleDef | undefined {
    for (const f of this.o.functions())
      if (f.name === fn) return schedulesOf(fn, f.spec).find((d) => d.id === id);
    return undefined;
  }
}

function scheduleKey(def: ScheduleDef): string {
  return `${def.expression}\0${def.timezone ?? ''}\0${def.path}\0${def.runOnStartup}`;
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

/**
 * The request of a scheduled run: POST to `/` (or the schedule's path) with the payload, and headers naming
 * the schedule and time (an Azure timer's also the next time, and whether this run stands for missed ones).
 */
export function cronRequest(
  spec: Pick<FunctionSpec, 'schedule' | 'payload'> & { path?: string },
  slot: number,
  extra: { next?: number | undefined; catchUp?: boolean } = {},
): CronRequest {
  const headers: [string, string][] = [
    ['x-nimbus-schedule', spec.schedule ?? ''],
    ['x-nimbus-scheduled-time', new Date(slot).toISOString()],
    ['user-agent', 'nimbus-cron'],
  ];
  if (extra.next !== undefined) headers.push(['x-nimbus-next-time', new Date(extra.next).toISOString()]);
  if (extra.catchUp !== undefined) headers.push(['x-nimbus-catch-up', String(extra.catchUp)]);
  let body = Buffer.alloc(0);
  if (typeof spec.payload === 'string') {
    body = Buffer.from(spec.payload);
    headers.push(['content-type', 'text/plain; charset=utf-8']);
  } else if (spec.payload !== undefined) {
    body = Buffer.from(JSON.stringify(spec.payload));
    headers.push(['content-type', 'application/json']);
  }
  return { method: 'POST', path: spec.path ?? '/', headers, body };
}
