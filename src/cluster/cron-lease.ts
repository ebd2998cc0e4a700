// Cron across a cluster: every node runs the schedules, and the node that first claims a scheduled time
// (a KV create on `<function>.<time>`, which JetStream lets succeed once; the claim expires with the
// bucket's TTL) fires or skips it. The schedules' state (last time handled, last call) is shared in KV.
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { CronState, CronStateStore } from '../triggers/cron.js';
import { MirroredBucket, openBucket } from './mirrored-bucket.js';

export const CRON_STATE_BUCKET = 'nimbus-cron-state';
export const CRON_CLAIMS_BUCKET = 'nimbus-cron-claims';
/** A claim outlives any misfire window: a day. */
const CLAIM_TTL_MS = 86_400_000;

const stateSchema = z.object({
  expression: z.string(),
  timezone: z.string().nullable(),
  lastSlot: z.number(),
  lastCallId: z.string().nullable(),
});

/** The schedules' state in a mirrored KV bucket: `load` reads memory; `save` writes in the background. */
export class NatsCronState implements CronStateStore {
  readonly #bucket: MirroredBucket<z.infer<typeof stateSchema>>;

  private constructor(bucket: MirroredBucket<z.infer<typeof stateSchema>>) {
    this.#bucket = bucket;
  }

  static async open(nc: NatsConnection, replicas = 1): Promise<NatsCronState> {
    return new NatsCronState(
      await MirroredBucket.open(nc, { bucket: CRON_STATE_BUCKET, schema: stateSchema }, { replicas }),
    );
  }

  load(fn: string): CronState | undefined {
    const s = this.#bucket.get(fn);
    if (!s) return undefined;
    return {
      expression: s.expression,
      timezone: s.timezone ?? undefined,
      lastSlot: s.lastSlot,
      lastCallId: s.lastCallId ?? undefined,
    };
  }

  save(fn: string, state: CronState): void {
    // A slower node must not move the shared state back to an older time.
    const current = this.#bucket.get(fn);
    if (current && current.expression === state.expression && current.lastSlot > state.lastSlot) return;
    this.#bucket
      .put(fn, {
        expression: state.expression,
        timezone: state.timezone ?? null,
        lastSlot: state.lastSlot,
        lastCallId: state.lastCallId ?? null,
      })
      .catch(() => {});
  }

  remove(fn: string): void {
    this.#bucket.delete(fn).catch(() => {});
  }

  close(): void {
    this.#bucket.close();
  }
}

/** One claim per scheduled time across the cluster. */
export class CronClaims {
  readonly #kv: KV;
  readonly #nodeId: string;

  private constructor(kv: KV, nodeId: string) {
    this.#kv = kv;
    this.#nodeId = nodeId;
  }

  static async open(nc: NatsConnection, nodeId: string, replicas = 1): Promise<CronClaims> {
    return new CronClaims(await openBucket(nc, CRON_CLAIMS_BUCKET, replicas, CLAIM_TTL_MS), nodeId);
  }

  /** True for the one node whose claim of `fn` at `slot` JetStream accepted first. */
  async claim(fn: string, slot: number): Promise<boolean> {
    try {
      await this.#kv.create(`${fn}.${slot}`, this.#nodeId);
      return true;
    } catch (err) {
      if (isAlreadyThere(err)) return false;
      throw err;
    }
  }
}

/** JetStream refuses a create on a key that exists with "wrong last sequence" (API error 10071). */
function isAlreadyThere(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(String(e?.message));
}
