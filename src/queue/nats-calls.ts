// Call records cluster-wide in JetStream KV: each record's summary in a mirrored bucket (any node lists,
// counts and reads them without a round trip), its response body and a dead call's request in a second
// bucket read on demand. A record changes by compare-and-set on its revision, so two nodes never undo
// each other's write; one node's writes to one call are applied in the order it asked for them.
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { MirroredBucket, openBucket } from '../cluster/mirrored-bucket.js';
import {
  type AttemptOutcome,
  CALL_STATUSES,
  type CallbackState,
  type CallCounts,
  type CallListFilter,
  type CallRecord,
  type CallStatus,
  type CallStore,
  type NewCall,
} from './calls.js';

export const CALLS_BUCKET = 'nimbus-calls';
export const CALL_DATA_BUCKET = 'nimbus-call-data';

const summarySchema = z.object({
  id: z.string(),
  fn: z.string(),
  source: z.enum(['http', 'cron', 'topic']),
  status: z.enum(CALL_STATUSES as [CallStatus, ...CallStatus[]]),
  attempts: z.number(),
  errors: z.number(),
  redrives: z.number(),
  createdAt: z.number(),
  updatedAt: z.number(),
  startedAt: z.number().exactOptional(),
  finishedAt: z.number().exactOptional(),
  nextAttemptAt: z.number().exactOptional(),
  durationMs: z.number().exactOptional(),
  callbackUrl: z.string().exactOptional(),
  callbackState: z.enum(['pending', 'delivered', 'failed']).exactOptional(),
  callbackAttempts: z.number(),
  callbackError: z.string().exactOptional(),
  response: z
    .object({ status: z.number(), headers: z.array(z.string()), bodyBytes: z.number() })
    .exactOptional(),
  error: z.object({ code: z.string(), message: z.string() }).exactOptional(),
  /** A dead call's request is in the data bucket. */
  hasRequest: z.boolean().exactOptional(),
});
type Summary = z.infer<typeof summarySchema>;

/** Compare-and-set attempts before a write gives up (another node keeps changing the same record). */
const CAS_ATTEMPTS = 8;

export interface NatsCallStoreOptions {
  nc: NatsConnection;
  replicas?: number;
}

export class NatsCallStore implements CallStore {
  readonly #summaries: MirroredBucket<Summary>;
  readonly #data: KV;
  /** Per call: the tail of this node's writes to it, so they land in the order asked. */
  readonly #chains = new Map<string, Promise<unknown>>();

  private constructor(summaries: MirroredBucket<Summary>, data: KV) {
    this.#summaries = summaries;
    this.#data = data;
  }

  static async open(options: NatsCallStoreOptions): Promise<NatsCallStore> {
    const replicas = options.replicas ?? 1;
    const [summaries, data] = await Promise.all([
      MirroredBucket.open(options.nc, { bucket: CALLS_BUCKET, schema: summarySchema }, { replicas }),
      openBucket(options.nc, CALL_DATA_BUCKET, replicas),
    ]);
    return new NatsCallStore(summaries, data);
  }

  async create(call: NewCall): Promise<void> {
    const summary: Summary = {
      id: call.id,
      fn: call.fn,
      source: call.source,
      status: 'queued',
      attempts: 0,
      errors: 0,
      redrives: 0,
      createdAt: call.createdAt,
      updatedAt: call.createdAt,
      callbackAttempts: 0,
      ...(call.callbackUrl === undefined ? {} : { callbackUrl: call.callbackUrl }),
    };
    await this.#serial(call.id, () => this.#summaries.create(call.id, summary));
  }

  running(id: string, attempt: number, now: number): Promise<void> {
    return this.#modify(id, (r) => {
      r.status = 'running';
      r.attempts = attempt;
      r.startedAt ??= now;
      r.updatedAt = now;
      delete r.nextAttemptAt;
    });
  }

  async retrying(
    id: string,
    u: AttemptOutcome & { errors: number; nextAttemptAt: number; now: number },
  ): Promise<void> {
    await Promise.all([
      this.#modify(id, (r) => {
        r.status = 'queued';
        r.errors = u.errors;
        r.nextAttemptAt = u.nextAttemptAt;
        r.updatedAt = u.now;
        applyOutcome(r, u);
      }),
      this.#putBody(id, u),
    ]);
  }

  async finish(
    id: string,
    u: AttemptOutcome & {
      status: 'succeeded' | 'failed' | 'dead';
      errors: number;
      now: number;
      request?: Buffer | undefined;
      callbackPending: boolean;
    },
  ): Promise<void> {
    // The request first: a record that says dead always has its request to redrive.
    if (u.request) await this.#data.put(`${id}.request`, u.request);
    await Promise.all([
      this.#modify(id, (r) => {
        r.status = u.status;
        r.errors = u.errors;
        r.finishedAt = u.now;
        r.updatedAt = u.now;
        delete r.nextAttemptAt;
        applyOutcome(r, u);
        if (u.request) r.hasRequest = true;
        if (u.callbackPending) r.callbackState = 'pending';
      }),
      this.#putBody(id, u),
    ]);
  }

  callback(
    id: string,
    u: { state: CallbackState; attempts: number; error?: string; now: number },
  ): Promise<void> {
    return this.#modify(id, (r) => {
      r.callbackState = u.state;
      r.callbackAttempts = u.attempts;
      if (u.error === undefined) delete r.callbackError;
      else r.callbackError = u.error;
      r.updatedAt = u.now;
    });
  }

  async requeue(id: string, now: number): Promise<void> {
    await this.#modify(id, (r) => {
      if (r.status !== 'dead') return false;
      const { callbackUrl } = r;
      for (const key of Object.keys(r) as (keyof Summary)[]) {
        if (!['id', 'fn', 'source', 'createdAt', 'redrives'].includes(key)) delete r[key];
      }
      Object.assign(r, {
        status: 'queued',
        attempts: 0,
        errors: 0,
        redrives: r.redrives + 1,
        updatedAt: now,
        callbackAttempts: 0,
        ...(callbackUrl === undefined ? {} : { callbackUrl }),
      });
    });
    await Promise.all([
      this.#data.delete(`${id}.request`).catch(() => {}),
      this.#data.delete(`${id}.response`).catch(() => {}),
    ]);
  }

  async get(id: string): Promise<CallRecord | undefined> {
    const summary = await this.#summary(id);
    if (!summary) return undefined;
    const record = toRecord(summary);
    if (record.response && record.response.bodyBytes > 0) {
      const body = await this.#data.get(`${id}.response`);
      if (body?.operation === 'PUT') record.response.body = Buffer.from(body.value);
    }
    return record;
  }

  async progress(id: string): Promise<{ status: CallStatus; errors: number; redrives: number } | undefined> {
    const s = await this.#summary(id);
    return s ? { status: s.status, errors: s.errors, redrives: s.redrives } : undefined;
  }

  async deadLetter(id: string): Promise<{ fn: string; request: Buffer } | undefined> {
    const s = await this.#summary(id);
    if (s?.status !== 'dead' || !s.hasRequest) return undefined;
    const entry = await this.#data.get(`${id}.request`);
    return entry?.operation === 'PUT' ? { fn: s.fn, request: Buffer.from(entry.value) } : undefined;
  }

  async list(filter: CallListFilter): Promise<CallRecord[]> {
    const { fn, status, limit, before } = filter;
    if (before !== undefined && !this.#summaries.get(before)) return [];
    const out: Summary[] = [];
    for (const [, s] of this.#summaries.entries()) {
      if (fn !== undefined && s.fn !== fn) continue;
      if (status !== undefined && s.status !== status) continue;
      if (before !== undefined && !(s.id < before)) continue;
      out.push(s);
    }
    // Call ids are UUIDv7: their order is their creation order. Newest first.
    out.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return out.slice(0, limit).map(toRecord);
  }

  async counts(fn?: string): Promise<CallCounts> {
    const counts = Object.fromEntries(CALL_STATUSES.map((s) => [s, 0])) as CallCounts;
    for (const [, s] of this.#summaries.entries()) if (fn === undefined || s.fn === fn) counts[s.status]++;
    return counts;
  }

  async purge(now: number, retention: { finishedMs: number; deadMs: number }): Promise<number> {
    let removed = 0;
    for (const [id, s] of [...this.#summaries.entries()]) {
      if (s.finishedAt === undefined) continue;
      const keep = s.status === 'dead' ? retention.deadMs : retention.finishedMs;
      if (s.finishedAt >= now - keep) continue;
      const revision = this.#summaries.revision(id);
      try {
        // Only the revision read: a record redriven meanwhile (by any node) is not removed.
        await this.#summaries.delete(id, revision);
        await Promise.all([
          this.#data.delete(`${id}.response`).catch(() => {}),
          this.#data.delete(`${id}.request`).catch(() => {}),
        ]);
        removed++;
      } catch {}
    }
    return removed;
  }

  async #summary(id: string): Promise<Summary | undefined> {
    return this.#summaries.get(id) ?? (await this.#summaries.fetch(id))?.value;
  }

  async #putBody(id: string, u: AttemptOutcome): Promise<void> {
    const body = u.response?.body;
    if (body && body.length > 0) await this.#data.put(`${id}.response`, body);
  }

  /** Read, change (false: nothing to write), compare-and-set on the revision read; again from JetStream's copy when it lost. */
  #modify(id: string, change: (r: Summary) => unknown): Promise<void> {
    return this.#serial(id, async () => {
      let value = this.#summaries.get(id);
      let revision = this.#summaries.revision(id);
      for (let attempt = 0; ; attempt++) {
        if (!value || revision === undefined) {
          const fresh = await this.#summaries.fetch(id);
          if (!fresh?.value) return; // purged, or never made: nothing to record (as SQLite's UPDATE)
          value = fresh.value;
          revision = fresh.revision;
        }
        const next = structuredClone(value);
        if (change(next) === false) return;
        try {
          await this.#summaries.update(id, next, revision);
          return;
        } catch (err) {
          if (attempt + 1 >= CAS_ATTEMPTS) throw err;
          value = undefined;
          revision = undefined;
        }
      }
    });
  }

  #serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(id) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    const tail = next.catch(() => {});
    this.#chains.set(id, tail);
    void tail.then(() => {
      if (this.#chains.get(id) === tail) this.#chains.delete(id);
    });
    return next;
  }

  close(): void {
    this.#summaries.close();
  }
}

function applyOutcome(r: Summary, u: AttemptOutcome): void {
  if (u.durationMs === undefined) delete r.durationMs;
  else r.durationMs = u.durationMs;
  if (u.response) {
    r.response = { status: u.response.status, headers: u.response.headers, bodyBytes: u.response.bodyBytes };
  } else delete r.response;
  if (u.error) r.error = { code: u.error.code, message: u.error.message };
  else delete r.error;
}

function toRecord(s: Summary): CallRecord {
  const { hasRequest: _, response, ...rest } = s;
  const record: CallRecord = { ...rest };
  // The body (capped at callResponseLimitBytes) is read from the data bucket by `get` only, as SQLite does.
  if (response) record.response = { ...response, body: Buffer.alloc(0) };
  return record;
}
