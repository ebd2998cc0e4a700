// Topic triggers: a function's `topics` (NATS subjects) invoke it once per message across the cluster. A
// bus delivers each message to one subscriber of a queue group (one group per function); a message of a
// subject that a JetStream stream holds is handed to the async queue (durable, retried, dead-lettered by
// the function's async policy) before it is acknowledged; any other is invoked at once, at most once, and
// a request's reply (and `topicReply`, when set) gets the function's answer.
import type { FunctionSpec } from '../config/function-spec.js';
import { splitFunctionId } from '../config/namespace.js';
import { busSubject, topicOf } from './topic-subject.js';

export interface TopicMessage {
  subject: string;
  data: Buffer;
  /** Header pairs, names lower-case. */
  headers: [string, string][];
  /** A request's reply subject (request/reply), when the sender waits for an answer. */
  reply?: string | undefined;
}

/** What a handler answers: the body to reply with. */
export type TopicHandler = (message: TopicMessage) => Promise<Buffer | undefined>;

/** How a subscription's messages are delivered. */
export type TopicDelivery = 'direct' | 'stream';

export interface TopicBus {
  /** `in-process` (single node, no NATS) or `nats`. */
  readonly kind: 'in-process' | 'nats';
  /**
   * Subscribes `handler` to `subject` in queue group `group` (one delivery per message per group).
   * Resolves with how messages come (`stream`: from a JetStream stream, acknowledged after the handler).
   */
  subscribe(
    subject: string,
    group: string,
    handler: TopicHandler,
  ): Promise<{ delivery: TopicDelivery; stop(): void }>;
  /** Publishes a message (resolves once the bus has it: for a stream's subject, once JetStream acknowledged it). */
  publish(subject: string, data: Buffer, headers?: [string, string][]): Promise<void>;
  /** Publishes and waits for one reply. */
  request(subject: string, data: Buffer, timeoutMs: number): Promise<Buffer>;
  close(): Promise<void>;
}

export type TopicEvent =
  | { type: 'topic-subscribed'; name: string; subject: string; delivery: TopicDelivery; bus: string }
  | { type: 'topic-failed'; name: string; subject: string; error: string };

export interface TopicTriggersOptions {
  bus: TopicBus;
  /** The deployed functions and their specs (read on every sync). */
  functions: () => Iterable<{ name: string; spec: Pick<FunctionSpec, 'topics' | 'topicReply'> }>;
  /** Runs the function now; resolves with its answer. */
  invoke: (fn: string, message: TopicMessage) => Promise<{ status: number; body: Buffer }>;
  /** Queues a call (durable); resolves once it is. */
  submit: (fn: string, message: TopicMessage) => Promise<string>;
  /** How often deploys and removals are picked up. Default 1 s. */
  syncIntervalMs?: number;
  onEvent?: (event: TopicEvent) => void;
}

interface Subscription {
  key: string;
  stop: () => void;
}

export class TopicTriggers {
  readonly #o: TopicTriggersOptions;
  readonly #subscriptions = new Map<string, Promise<Subscription | undefined>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #started = false;

  constructor(options: TopicTriggersOptions) {
    this.#o = options;
  }

  start(): void {
    this.#started = true;
    this.sync();
  }

  /** Subscribes new (function, subject) pairs and drops those no longer deployed (from start() on). */
  sync(): void {
    if (this.#closed || !this.#started) return;
    clearTimeout(this.#timer);
    const wanted = new Map<string, { fn: string; subject: string; reply: string | undefined }>();
    for (const { name, spec } of this.#o.functions()) {
      // On the bus, a namespace's topics are its own (topic-subject.ts).
      const { namespace } = splitFunctionId(name);
      const reply = spec.topicReply === undefined ? undefined : busSubject(namespace, spec.topicReply);
      for (const topic of spec.topics ?? []) {
        const subject = busSubject(namespace, topic);
        wanted.set(`${name}\0${subject}\0${reply ?? ''}`, { fn: name, subject, reply });
      }
    }
    for (const [key, sub] of [...this.#subscriptions]) {
      if (wanted.has(key)) continue;
      this.#subscriptions.delete(key);
      void sub.then((s) => s?.stop());
    }
    for (const [key, want] of wanted) {
      if (this.#subscriptions.has(key)) continue;
      this.#subscriptions.set(key, this.#subscribe(key, want.fn, want.subject, want.reply));
    }
    this.#timer = setTimeout(() => this.sync(), this.#o.syncIntervalMs ?? 1000);
    this.#timer.unref();
  }

  async #subscribe(
    key: string,
    fn: string,
    subject: string,
    reply: string | undefined,
  ): Promise<Subscription | undefined> {
    const { bus } = this.#o;
    const { namespace } = splitFunctionId(fn);
    let delivery: TopicDelivery = 'direct';
    const handler: TopicHandler = async (onBus) => {
      const message = { ...onBus, subject: topicOf(namespace, onBus.subject) };
      if (delivery === 'stream') {
        // Durable first: the stream's message is acknowledged once the call is queued.
        await this.#o.submit(fn, message);
        return undefined;
      }
      const result = await this.#o.invoke(fn, message);
      if (reply)
        await bus.publish(reply, result.body, [
          ['x-nimbus-function', fn],
          ['x-nimbus-status', String(result.status)],
        ]);
      return result.body;
    };
    try {
      const sub = await bus.subscribe(subject, `nimbus-${fn}`, handler);
      delivery = sub.delivery;
      this.#o.onEvent?.({ type: 'topic-subscribed', name: fn, subject, delivery, bus: bus.kind });
      if (this.#closed || !this.#subscriptions.has(key)) {
        sub.stop();
        return undefined;
      }
      return { key, stop: sub.stop };
    } catch (err) {
      this.#o.onEvent?.({ type: 'topic-failed', name: fn, subject, error: (err as Error).message });
      // Tried again on a later sync.
      this.#subscriptions.delete(key);
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const subs = await Promise.all(this.#subscriptions.values());
    for (const sub of subs) sub?.stop();
    this.#subscriptions.clear();
  }
}

/** Whether `subject` matches subscription `pattern` (NATS rules: `*` one token, `>` one or more at the end). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
