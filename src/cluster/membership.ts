// Membership: each node writes a heartbeat (its URL and load) into a KV bucket every interval; a node
// whose heartbeat is older than three intervals is listed as gone, and the bucket's TTL forgets it.
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { MirroredBucket } from './mirrored-bucket.js';

export const NODES_BUCKET = 'nimbus-nodes';
/** Entries older than this are dropped by JetStream. */
const NODE_TTL_MS = 120_000;

const loadSchema = z.object({
  /** Requests running in this node's instances. */
  inflight: z.number(),
  /** Requests waiting for an instance. */
  queued: z.number(),
  /** Ready instances. */
  instances: z.number(),
  /** Async calls this node's workers are running. */
  asyncRunning: z.number(),
  /** Resident memory of the node process, MiB. */
  rssMb: z.number(),
});
export type NodeLoad = z.infer<typeof loadSchema>;

/** A node as membership stores it (GET /api/v1/nodes adds alive and self; in /openapi.json too). */
export const nodeSchema = z.object({
  id: z.string(),
  url: z.string(),
  startedAt: z.number(),
  heartbeatAt: z.number(),
  version: z.string(),
  load: loadSchema,
});
export type NodeInfo = z.infer<typeof nodeSchema>;
export type NodeView = NodeInfo & { alive: boolean; self: boolean };

export interface MembershipOptions {
  nc: NatsConnection;
  nodeId: string;
  url: () => string;
  load: () => NodeLoad;
  replicas?: number;
  /** Default 2 s. */
  heartbeatMs?: number;
  now?: () => number;
}

export class Membership {
  readonly #bucket: MirroredBucket<NodeInfo>;
  readonly #o: MembershipOptions;
  readonly #startedAt: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  private constructor(bucket: MirroredBucket<NodeInfo>, options: MembershipOptions) {
    this.#bucket = bucket;
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
  }

  static async open(options: MembershipOptions): Promise<Membership> {
    const bucket = await MirroredBucket.open(
      options.nc,
      { bucket: NODES_BUCKET, schema: nodeSchema, ttlMs: NODE_TTL_MS },
      { replicas: options.replicas ?? 1 },
    );
    return new Membership(bucket, options);
  }

  get heartbeatMs(): number {
    return this.#o.heartbeatMs ?? 2000;
  }

  /** Writes the first heartbeat (resolves once JetStream has it), then one every interval. */
  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => void this.beat().catch(() => {}), this.heartbeatMs);
    this.#timer.unref();
  }

  beat(): Promise<number> {
    return this.#bucket.put(this.#o.nodeId, {
      id: this.#o.nodeId,
      url: this.#o.url(),
      startedAt: this.#startedAt,
      heartbeatAt: this.#now(),
      version: '0.1.0',
      load: this.#o.load(),
    });
  }

  /** Every node heard from within the bucket's TTL; `alive`: within three heartbeats. */
  list(): NodeView[] {
    const now = this.#now();
    return [...this.#bucket.entries()]
      .map(([, n]) => ({
        ...n,
        alive: now - n.heartbeatAt <= this.heartbeatMs * 3,
        self: n.id === this.#o.nodeId,
      }))
      .sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1));
  }

  /** Stops the heartbeat and removes this node's entry (a clean leave). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#bucket.delete(this.#o.nodeId).catch(() => {});
    this.#bucket.close();
  }
}
