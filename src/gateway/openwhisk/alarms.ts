// The `/whisk.system/alarms` feed on Nimbus cron: `alarm` (a cron expression, UTC unless `timezone`),
// `once` (a date) and `interval` (minutes dividing an hour or a day) attach a schedule to a trigger; each
// due time fires the trigger with `trigger_payload`. Schedules run on the platform's CronScheduler
// (croner, durable last-run state, at most one catch-up run after downtime).
import { z } from 'zod';
import { cronExpressionError } from '../../config/async-spec.js';
import { NimbusError } from '../../errors.js';
import { newCallId } from '../../queue/call-id.js';
import { type CronClock, type CronEvent, CronScheduler, type CronStateStore } from '../../triggers/cron.js';
import { activationView } from './activation.js';
import { need, type OwCall } from './call.js';
import { componentName } from './invoker.js';
import type { AlarmFeed, Entity, OpenWhiskStore } from './ow-store.js';
import { ACTIVATION_ID_HEADER, sendOwJson } from './respond.js';

/** The feeds Nimbus provides, by their action name in `/whisk.system/alarms`. */
export const ALARM_FEEDS = ['alarm', 'once', 'interval'] as const;
export type AlarmFeedName = (typeof ALARM_FEEDS)[number];

/** Prefix of the schedules' keys in the cron state (not a function name, so none can clash). */
const KEY_PREFIX = 'openwhisk:';

const feedParamsSchema = z
  .object({
    lifecycleEvent: z.enum(['CREATE', 'READ', 'UPDATE', 'DELETE']),
    triggerName: z.string().min(1).max(512),
    authKey: z.string().optional(),
    cron: z.string().min(1).max(200).optional(),
    timezone: z.string().min(1).max(100).optional(),
    date: z.union([z.string().min(1).max(100), z.number()]).optional(),
    minutes: z.number().int().min(1).max(1440).optional(),
    trigger_payload: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
    startDate: z.unknown().optional(),
    stopDate: z.unknown().optional(),
    maxTriggers: z.unknown().optional(),
    deleteAfterFire: z.unknown().optional(),
  })
  .passthrough();

type FeedParams = z.output<typeof feedParamsSchema>;

export interface AlarmsDeps {
  ow: OpenWhiskStore;
  state: CronStateStore;
  /** Fires a trigger from its schedule; resolves with the trigger activation's id (or undefined: no rule ran). */
  fire: (
    namespace: string,
    trigger: Entity<'trigger'>,
    payload: Record<string, unknown>,
  ) => Promise<string | undefined>;
  now: () => number;
  clock?: CronClock;
  onEvent?: (event: CronEvent) => void;
}

const invalid = (why: string) => new NimbusError('ERR_OPENWHISK_FEED_INVALID', [why]);

/** The cron expression a feed's parameters give (throws ERR_OPENWHISK_FEED_INVALID saying what is wrong). */
export function scheduleOf(feed: AlarmFeedName, p: FeedParams, now: number): string {
  for (const key of ['startDate', 'stopDate', 'maxTriggers', 'deleteAfterFire'] as const)
    if (p[key] !== undefined) throw invalid(`${key} is not supported; delete the trigger's feed to stop it`);
  let expression: string;
  if (feed === 'alarm') {
    if (!p.cron) throw invalid('the alarm feed needs "cron"');
    expression = p.cron;
  } else if (feed === 'once') {
    if (p.date === undefined) throw invalid('the once feed needs "date"');
    const at = new Date(p.date);
    if (Number.isNaN(at.getTime())) throw invalid(`date "${String(p.date).slice(0, 60)}" is not a date`);
    if (at.getTime() <= now) throw invalid('date must be in the future');
    expression = at.toISOString();
  } else {
    const minutes = p.minutes;
    if (minutes === undefined) throw invalid('the interval feed needs "minutes"');
    if (minutes < 60 && 60 % minutes === 0) expression = `*/${minutes} * * * *`;
    else if (minutes % 60 === 0 && 24 % (minutes / 60) === 0) expression = `0 */${minutes / 60} * * *`;
    else
      throw invalid(
        'minutes must divide an hour (1, 2, 3, 5, …, 30) or a day in whole hours (60, 120, …, 1440)',
      );
  }
  const error = cronExpressionError(expression);
  if (error) throw invalid(`"${expression.slice(0, 100)}" is not a schedule: ${error}`);
  return expression;
}

export class Alarms {
  readonly #deps: AlarmsDeps;
  readonly #cron: CronScheduler;
  /** key → trigger, for every trigger with a feed (read by the scheduler on every sync). */
  #schedules = new Map<string, { namespace: string; trigger: string; feed: AlarmFeed }>();

  constructor(deps: AlarmsDeps) {
    this.#deps = deps;
    this.refresh();
    this.#cron = new CronScheduler({
      functions: () =>
        [...this.#schedules].map(([key, s]) => ({
          name: key,
          spec: {
            schedule: s.feed.schedule,
            timezone: s.feed.timezone,
            payload: undefined,
            // An alarm fires at each time, whether or not the last fire's actions are done.
            allowOverlap: true,
          },
        })),
      submit: async (key) => {
        const s = this.#schedules.get(key);
        const trigger = s && deps.ow.getEntity(s.namespace, 'trigger', s.trigger);
        if (!s || !trigger?.doc.feed) return '';
        return (await deps.fire(s.namespace, trigger, trigger.doc.feed.payload)) ?? '';
      },
      isPending: async () => false,
      state: deps.state,
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
    });
  }

  start(): void {
    this.#cron.start();
  }

  close(): void {
    this.#cron.close();
  }

  /** Reloads the schedules from the triggers (after a feed or a trigger changed) and applies them now. */
  refresh(): void {
    const next = new Map<string, { namespace: string; trigger: string; feed: AlarmFeed }>();
    for (const t of this.#deps.ow.allEntities('trigger')) {
      if (t.doc.feed)
        next.set(`${KEY_PREFIX}${t.namespace}/${t.name}`, {
          namespace: t.namespace,
          trigger: t.name,
          feed: t.doc.feed,
        });
    }
    this.#schedules = next;
    this.#cron?.sync();
  }

  /** `POST /namespaces/whisk.system/actions/alarms/{feed}`: the feed's lifecycle event for one trigger. */
  async handle(call: OwCall, feedName: string, params: Record<string, unknown>): Promise<void> {
    if (!(ALARM_FEEDS as readonly string[]).includes(feedName))
      throw new NimbusError('ERR_OPENWHISK_NOT_FOUND', [
        'action',
        `/whisk.system/alarms/${feedName.slice(0, 60)}`,
        'actions',
      ]);
    const feed = feedName as AlarmFeedName;
    const parsed = feedParamsSchema.safeParse(params);
    if (!parsed.success)
      throw invalid(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const p = parsed.data;
    need(call, 'deploy');
    const name = componentName(p.triggerName, call.namespace);
    if (name === undefined)
      throw invalid(`trigger ${p.triggerName.slice(0, 200)} is not in namespace ${call.namespace}`);
    const trigger = this.#deps.ow.getEntity(call.namespace, 'trigger', name);
    let result: Record<string, unknown>;
    switch (p.lifecycleEvent) {
      case 'CREATE':
      case 'UPDATE': {
        if (!trigger)
          throw new NimbusError('ERR_OPENWHISK_NOT_FOUND', ['trigger', name.slice(0, 80), 'triggers']);
        const schedule = scheduleOf(feed, p, this.#deps.now());
        const timezone = p.timezone ?? 'UTC';
        const payload =
          typeof p.trigger_payload === 'string' ? { payload: p.trigger_payload } : (p.trigger_payload ?? {});
        const { lifecycleEvent: _l, authKey: _a, triggerName: _t, ...config } = p;
        this.#deps.ow.putEntity('trigger', {
          ...trigger,
          updated: this.#deps.now(),
          doc: {
            ...trigger.doc,
            feed: { name: `/whisk.system/alarms/${feed}`, schedule, timezone, payload, config },
          },
        });
        this.refresh();
        result = { triggerName: `/${call.namespace}/${name}`, schedule, timezone, status: 'active' };
        break;
      }
      case 'READ':
        if (!trigger?.doc.feed)
          throw new NimbusError('ERR_OPENWHISK_NOT_FOUND', [
            'alarm of trigger',
            name.slice(0, 80),
            'triggers',
          ]);
        result = {
          config: { ...trigger.doc.feed.config, name, namespace: call.namespace },
          status: { active: true },
        };
        break;
      case 'DELETE': {
        if (trigger?.doc.feed) {
          const { feed: _f, ...doc } = trigger.doc;
          this.#deps.ow.putEntity('trigger', { ...trigger, updated: this.#deps.now(), doc });
          this.refresh();
        }
        result = { triggerName: `/${call.namespace}/${name}`, status: 'deleted' };
        break;
      }
    }
    // The feed is an action OpenWhisk runs blocking: its answer is an activation record (not stored).
    const now = this.#deps.now();
    const activationId = newCallId(now);
    const record = activationView(
      {
        activationId,
        namespace: 'whisk.system',
        name: feed,
        start: now,
        end: now,
        response: { statusCode: 0, result },
        logs: [],
        annotations: [{ key: 'path', value: `whisk.system/alarms/${feed}` }],
        version: '0.0.1',
      },
      true,
    );
    sendOwJson(call.res, 200, record, { [ACTIVATION_ID_HEADER]: activationId });
  }
}
