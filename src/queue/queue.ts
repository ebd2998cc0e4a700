// The Queue interface: durable messages on topics, taken with a lease and settled with ack / nak(delay) /
// extend / term — the shape of a JetStream work queue, so a NATS backend can replace the SQLite one.

export interface QueueMessage {
  /** Unique id of the message (for function calls: the call id). */
  id: string;
  /** What the message is for: a function name, or an internal topic such as `@callback`. */
  topic: string;
  /** Opaque payload. */
  data: Buffer;
  /** Not visible before this delay, in ms. Default 0. */
  delayMs?: number;
}

/** A message held under a lease by the caller of `take`. */
export interface Job {
  readonly id: string;
  readonly topic: string;
  readonly data: Buffer;
  /** When the message was enqueued (epoch ms). */
  readonly enqueuedAt: number;
  /** Deliveries so far, this one included (1 on the first). */
  readonly deliveries: number;
}

export interface TakeOptions {
  /** Most messages returned. */
  max: number;
  /** The messages stay invisible to other takers this long unless extended, settled or released. */
  leaseMs: number;
  /** With none visible, wait up to this long for one. Default 0 (answer at once). */
  waitMs?: number;
}

export interface QueueUsage {
  messages: number;
  bytes: number;
}

export interface Queue {
  /** Resolves once every message is durably stored (fsync'd); many concurrent calls share one write. */
  enqueue(messages: readonly QueueMessage[]): Promise<void>;
  /** Visible messages of `topic`, oldest first, leased to the caller; `deliveries` is counted durably first. */
  take(topic: string, options: TakeOptions): Promise<Job[]>;
  /** Done: removes the message. */
  ack(job: Job): Promise<void>;
  /** Not done: visible again after `delayMs`. */
  nak(job: Job, delayMs: number): Promise<void>;
  /** Still working: the lease runs `leaseMs` from now. */
  extend(job: Job, leaseMs: number): Promise<void>;
  /** Never redeliver: removes the message (the caller keeps what it needs, e.g. a dead letter). */
  term(job: Job): Promise<void>;
  /** Topics that hold messages (at start, to know where work is waiting). */
  topics(): string[];
  /**
   * Messages of `topic` not yet acked or termed and their payload bytes, counting enqueues still being
   * written: callers cap a topic with it before they enqueue (in the same synchronous step).
   */
  usage(topic: string): QueueUsage;
  /** Wakes every waiting `take` with no messages; later takes answer at once. */
  close(): void;
}
