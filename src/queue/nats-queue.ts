// The cluster queue: a JetStream work-queue stream (file storage, configured replicas), one subject and one
// durable pull consumer per topic shared by every node. A lease is the consumer's ack wait; ack / nak(delay)
// / working / term are JetStream's own acknowledgements (the ack protocol that nats.js's jsmsg.ts speaks).
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { createInbox, headers, type Msg, type NatsConnection, nanos, nuid } from '@nats-io/transport-node';
import type { Job, Queue, QueueMessage, QueueUsage, TakeOptions } from './queue.js';

export const QUEUE_STREAM = 'NIMBUS_QUEUE';
export const QUEUE_SUBJECT_PREFIX = 'nimbus.queue';
const ID_HEADER = 'Nimbus-Id';
const NOT_BEFORE_HEADER = 'Nimbus-Not-Before';

export interface NatsQueueOptions {
  nc: NatsConnection;
  /** Copies of each message across the NATS cluster (1, 3 or 5). Default 1. */
  replicas?: number;
  /** Stream name (tests and benchmarks keep theirs apart). Default NIMBUS_QUEUE. */
  stream?: string;
  /** An enqueue keeps retrying a publish JetStream did not acknowledge (a server failing over) this long. Default 10 s. */
  publishTimeoutMs?: number;
  /** How often the cluster-wide usage of each topic is read. Default 1 s. */
  usageRefreshMs?: number;
  /** Told of each topic seen holding messages (every node then runs workers for it). */
  onTopic?: (topic: string) => void;
}

/** A delivered message; its reply subject carries the delivery count and is where acks go. */
class NatsJob implements Job {
  readonly id: string;
  readonly topic: string;
  readonly data: Buffer;
  readonly enqueuedAt: number;
  readonly deliveries: number;
  readonly reply: string;
  settling = false;

  constructor(topic: string, m: Msg, info: DeliveryInfo) {
    this.topic = topic;
    this.reply = m.reply!;
    this.id = m.headers?.get(ID_HEADER) || `seq-${info.streamSeq}`;
    this.data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    this.enqueuedAt = info.timestampMs;
    this.deliveries = info.deliveries;
  }
}

interface DeliveryInfo {
  deliveries: number;
  streamSeq: number;
  timestampMs: number;
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (a domain and hash may precede). */
function parseAckSubject(reply: string): DeliveryInfo | undefined {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK' || t.length < 9) return undefined;
  const n = t.length;
  const deliveries = Number(t[n - 5]);
  const streamSeq = Number(t[n - 4]);
  const timestampMs = Number(BigInt(t[n - 2]!) / 1_000_000n);
  if (!Number.isSafeInteger(deliveries) || !Number.isSafeInteger(streamSeq)) return undefined;
  return { deliveries, streamSeq, timestampMs };
}

/** A topic as a subject token: function names are already tokens; others (`@callback`) are `_` + hex. */
export function topicToken(topic: string): string {
  return /^[a-z0-9-]+$/.test(topic) ? topic : `_${Buffer.from(topic).toString('hex')}`;
}

export function tokenTopic(token: string): string {
  return token.startsWith('_') ? Buffer.from(token.slice(1), 'hex').toString() : token;
}

interface Usage {
  /** Cluster-wide, as last read. */
  base: QueueUsage;
  /** Changes this node saw complete since that read was asked for. */
  delta: QueueUsage;
  /** Enqueues of this node not yet acknowledged by JetStream. */
  pending: QueueUsage;
}

const ACK_TIMEOUT_MS = 5000;

export class NatsQueue implements Queue {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #replicas: number;
  readonly #publishTimeoutMs: number;
  readonly #topicListeners = new Set<(topic: string) => void>();
  /** Per topic: the consumer's ack wait in ms once it exists. */
  readonly #consumers = new Map<string, Promise<number>>();
  readonly #held = new Set<NatsJob>();
  readonly #usage = new Map<string, Usage>();
  readonly #takers = new Set<() => void>();
  #refreshTimer: NodeJS.Timeout | undefined;
  #refreshing = false;
  #closed = false;

  private constructor(options: NatsQueueOptions, jsm: JetStreamManager) {
    this.#nc = options.nc;
    this.#jsm = jsm;
    this.#js = jetstream(options.nc);
    this.#stream = options.stream ?? QUEUE_STREAM;
    this.#replicas = options.replicas ?? 1;
    this.#publishTimeoutMs = options.publishTimeoutMs ?? 10_000;
    if (options.onTopic) this.#topicListeners.add(options.onTopic);
  }

  /** Creates (or updates the replicas of) the stream and reads the usage of every topic once. */
  static async open(options: NatsQueueOptions): Promise<NatsQueue> {
    const queue = new NatsQueue(options, await jetstreamManager(options.nc));
    await queue.#ensureStream();
    await queue.#refresh();
    const every = options.usageRefreshMs ?? 1000;
    queue.#refreshTimer = setInterval(() => void queue.#refresh(), every);
    queue.#refreshTimer.unref();
    return queue;
  }

  async #ensureStream(): Promise<void> {
    const config = {
      name: this.#stream,
      subjects: [`${QUEUE_SUBJECT_PREFIX}.${this.#stream}.>`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: this.#replicas,
      // Dedupe window for a publish retried after a lost acknowledgement (each enqueue has its own msg id).
      duplicate_window: nanos(120_000),
    };
    const info = await this.#jsm.streams.info(this.#stream).catch(() => undefined);
    if (!info) await this.#jsm.streams.add(config);
    else if (info.config.num_replicas !== this.#replicas)
      await this.#jsm.streams.update(this.#stream, config);
  }

  #subject(topic: string): string {
    return `${QUEUE_SUBJECT_PREFIX}.${this.#stream}.${topicToken(topic)}`;
  }

  #consumerName(topic: string): string {
    return `q_${topicToken(topic)}`;
  }

  /** The durable consumer of `topic` with ack wait `leaseMs` (created once; updated when the lease changes). */
  async #consumer(topic: string, leaseMs: number): Promise<void> {
    const known = this.#consumers.get(topic);
    if (known && (await known.catch(() => -1)) === leaseMs) return;
    const config = {
      durable_name: this.#consumerName(topic),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(leaseMs),
      filter_subject: this.#subject(topic),
      max_deliver: -1,
      max_ack_pending: -1,
    };
    const made = (async () => {
      try {
        await this.#jsm.consumers.add(this.#stream, config);
      } catch {
        // It exists with another ack wait (another node's lease, or a changed config): take this one.
        const { durable_name, ...update } = config;
        await this.#jsm.consumers.update(this.#stream, durable_name, update);
      }
      return leaseMs;
    })();
    this.#consumers.set(topic, made);
    try {
      await made;
    } catch (err) {
      this.#consumers.delete(topic);
      throw err;
    }
  }

  #usageOf(topic: string): Usage {
    let u = this.#usage.get(topic);
    if (!u) {
      u = {
        base: { messages: 0, bytes: 0 },
        delta: { messages: 0, bytes: 0 },
        pending: { messages: 0, bytes: 0 },
      };
      this.#usage.set(topic, u);
    }
    return u;
  }

  /** Tells `listener` of each topic seen holding messages (any node's), so this node runs workers for it. */
  onTopic(listener: (topic: string) => void): void {
    this.#topicListeners.add(listener);
    for (const topic of this.topics()) listener(topic);
  }

  #announce(topic: string): void {
    for (const listener of this.#topicListeners) listener(topic);
  }

  usage(topic: string): QueueUsage {
    const u = this.#usage.get(topic);
    if (!u) return { messages: 0, bytes: 0 };
    return {
      messages: Math.max(0, u.base.messages + u.delta.messages + u.pending.messages),
      bytes: Math.max(0, u.base.bytes + u.delta.bytes + u.pending.bytes),
    };
  }

  topics(): string[] {
    return [...this.#usage].filter(([topic]) => this.usage(topic).messages > 0).map(([topic]) => topic);
  }

  /**
   * Reads the cluster-wide message count of every topic (one stream-info request). JetStream counts
   * messages per subject but not bytes: a topic's bytes are its share of the stream's, an estimate.
   */
  async #refresh(): Promise<void> {
    if (this.#refreshing || this.#closed) return;
    this.#refreshing = true;
    const marks = new Map([...this.#usage].map(([topic, u]) => [topic, { ...u.delta }]));
    try {
      const info = await this.#jsm.streams.info(this.#stream, {
        subjects_filter: `${QUEUE_SUBJECT_PREFIX}.${this.#stream}.>`,
      });
      const perMessage = info.state.messages > 0 ? info.state.bytes / info.state.messages : 0;
      const seen = new Set<string>();
      const prefix = `${QUEUE_SUBJECT_PREFIX}.${this.#stream}.`;
      for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
        const topic = tokenTopic(subject.slice(prefix.length));
        seen.add(topic);
        const u = this.#usageOf(topic);
        u.base = { messages: count, bytes: Math.round(count * perMessage) };
        if (count > 0) this.#announce(topic);
      }
      for (const [topic, u] of this.#usage) {
        if (!seen.has(topic)) u.base = { messages: 0, bytes: 0 };
        const mark = marks.get(topic);
        if (mark) {
          u.delta.messages -= mark.messages;
          u.delta.bytes -= mark.bytes;
        }
      }
    } catch {
      // NATS unreachable for a moment: the last reading stands.
    } finally {
      this.#refreshing = false;
    }
  }

  async enqueue(messages: readonly QueueMessage[]): Promise<void> {
    if (messages.length === 0) return;
    for (const m of messages) count(this.#usageOf(m.topic).pending, 1, m.data.length);
    const results = await Promise.allSettled(messages.map((m) => this.#publish(m)));
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const u = this.#usageOf(m.topic);
      count(u.pending, -1, -m.data.length);
      if (results[i]!.status === 'fulfilled') count(u.delta, 1, m.data.length);
    }
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const topic of new Set(messages.map((m) => m.topic))) this.#announce(topic);
  }

  /** Resolves once JetStream acknowledged the message (stored on a quorum of its replicas). */
  async #publish(m: QueueMessage): Promise<void> {
    const h = headers();
    h.set(ID_HEADER, m.id);
    if (m.delayMs) h.set(NOT_BEFORE_HEADER, String(Date.now() + m.delayMs));
    // One msg id per enqueue: a retry after a lost acknowledgement is deduplicated, a redrive is not.
    const msgID = nuid.next();
    const deadline = Date.now() + this.#publishTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#js.publish(this.#subject(m.topic), m.data, {
          msgID,
          headers: h,
          timeout: Math.max(500, Math.min(5000, deadline - Date.now())),
        });
        return;
      } catch (err) {
        if (Date.now() >= deadline || this.#nc.isClosed()) throw err;
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  async take(topic: string, options: TakeOptions): Promise<Job[]> {
    if (this.#closed || options.max <= 0) return [];
    await this.#consumer(topic, options.leaseMs);
    // What is there now; with nothing, wait for one message (a batch of one leaves no request behind),
    // then add what else came with it.
    const now = await this.#pull(topic, options.max, 0);
    if (now.length > 0 || !options.waitMs || this.#closed) return now;
    const first = await this.#pull(topic, 1, options.waitMs);
    if (first.length === 0 || options.max === 1 || this.#closed) return first;
    return [...first, ...(await this.#pull(topic, options.max - 1, 0))];
  }

  /** One pull request: `batch` messages at most; waitMs 0 answers at once (no_wait). */
  #pull(topic: string, batch: number, waitMs: number): Promise<NatsJob[]> {
    const inbox = createInbox();
    const jobs: NatsJob[] = [];
    return new Promise<NatsJob[]>((resolve) => {
      let done = false;
      /** Messages the server sent for this request (an early delayed one counts, though handed back). */
      let delivered = 0;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#takers.delete(finish);
        resolve(jobs);
        // A long poll cut short by close may still be answered: whatever comes goes straight back.
        if (!this.#closed) sub.unsubscribe();
        else setTimeout(() => sub.unsubscribe(), waitMs + 1000).unref();
      };
      const sub = this.#nc.subscribe(inbox, {
        callback: (_err, m) => {
          const code = m.headers?.code ?? 0;
          if (code >= 400) return finish();
          if (code !== 0 || !m.reply) return; // heartbeat, flow control
          const info = parseAckSubject(m.reply);
          if (!info) return;
          const job = new NatsJob(topic, m, info);
          if (done) {
            m.respond('-NAK');
            return;
          }
          delivered++;
          const notBefore = Number(m.headers?.get(NOT_BEFORE_HEADER) || 0);
          if (notBefore > Date.now()) {
            m.respond(`-NAK ${JSON.stringify({ delay: nanos(notBefore - Date.now()) })}`);
          } else {
            this.#held.add(job);
            jobs.push(job);
          }
          if (delivered >= batch) finish();
        },
      });
      const request = waitMs > 0 ? { batch, expires: nanos(waitMs) } : { batch, no_wait: true };
      this.#nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.#stream}.${this.#consumerName(topic)}`,
        JSON.stringify(request),
        {
          reply: inbox,
        },
      );
      // The server ends the request itself (408) when it expires; this covers a server that went away.
      const timer = setTimeout(finish, waitMs + ACK_TIMEOUT_MS);
      this.#takers.add(finish);
    });
  }

  async ack(job: Job): Promise<void> {
    await this.#settle(job, '+ACK');
  }

  async term(job: Job): Promise<void> {
    // JetStream (2.10+) removes a terminated message from a work-queue stream.
    await this.#settle(job, '+TERM');
  }

  async nak(job: Job, delayMs: number): Promise<void> {
    const delay = Math.max(0, Math.round(delayMs));
    await this.#settle(job, delay > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delay) })}` : '-NAK', false);
  }

  async extend(job: Job, _leaseMs: number): Promise<void> {
    // +WPI restarts the ack wait (the lease the consumer was made with); a settled job is not renewed.
    const held = this.#asHeld(job);
    if (!held || held.settling) return;
    this.#nc.publish(held.reply, '+WPI');
  }

  /** Sends an acknowledgement and waits for JetStream to confirm it (double ack). */
  async #settle(job: Job, ack: string, removes = true): Promise<void> {
    const held = this.#asHeld(job);
    if (!held) return;
    held.settling = true;
    try {
      await this.#nc.request(held.reply, ack, { timeout: ACK_TIMEOUT_MS });
    } finally {
      this.#held.delete(held);
    }
    if (removes) count(this.#usageOf(held.topic).delta, -1, -held.data.length);
  }

  #asHeld(job: Job): NatsJob | undefined {
    return job instanceof NatsJob && this.#held.has(job) ? job : undefined;
  }

  /** Messages of `topic` not yet acknowledged, as JetStream counts them now (one request). */
  async depth(topic: string): Promise<number> {
    const info = await this.#jsm.streams.info(this.#stream, { subjects_filter: this.#subject(topic) });
    return info.state.subjects?.[this.#subject(topic)] ?? 0;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#refreshTimer);
    for (const finish of [...this.#takers]) finish();
  }
}

function count(usage: QueueUsage, messages: number, bytes: number): void {
  usage.messages += messages;
  usage.bytes += bytes;
}
