// Cluster mode, wired: one NATS connection and the JetStream-backed parts a node shares with the others —
// the registry (KV), access keys and secrets (KV, sealed with the shared master key), bundles (Object
// Store), the async queue (work-queue stream), call records, cron state and claims, and membership. Every
// node opens the same buckets and streams; the first one creates them.
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { deriveKey, Sealer } from '../auth/master-key.js';
import { NatsKeyStore } from '../auth/nats-key-store.js';
import { NatsCallStore } from '../queue/nats-calls.js';
import { NatsQueue } from '../queue/nats-queue.js';
import type { Artifacts } from '../store/artifacts.js';
import { NatsBundles } from '../store/nats-bundles.js';
import { NatsKvStore } from '../store/nats-kv-store.js';
import { NatsSecretStore } from '../store/nats-secret-store.js';
import { connectCluster } from './connection.js';
import { CronClaims, NatsCronState } from './cron-lease.js';
import { checkMasterKey } from './master-key-check.js';
import { Membership, type NodeLoad } from './membership.js';

/** At shutdown, pending writes get this long to reach NATS. */
const CLOSE_DRAIN_MS = 2000;

export interface ClusterOptions {
  servers: readonly string[];
  /** Copies of every stream and bucket across the NATS cluster. */
  replicas: number;
  /** This node's id; default `<hostname>-<random>`. */
  nodeId?: string | undefined;
  /** The platform's master key: every node of the cluster must have the same (checked at open). */
  masterKey: Buffer;
  onEvent?: (event: { type: string; [key: string]: unknown }) => void;
}

export class Cluster {
  readonly nc: NatsConnection;
  readonly nodeId: string;
  readonly store: NatsKvStore;
  /** Access keys (and functions' own keys), shared by every node. */
  readonly keys: NatsKeyStore;
  /** The secrets store, shared by every node. */
  readonly secrets: NatsSecretStore;
  readonly queue: NatsQueue;
  readonly calls: NatsCallStore;
  readonly cronState: NatsCronState;
  readonly cronClaims: CronClaims;
  readonly replicas: number;
  #bundles: NatsBundles | undefined;
  #membership: Membership | undefined;

  private constructor(parts: {
    nc: NatsConnection;
    nodeId: string;
    replicas: number;
    store: NatsKvStore;
    keys: NatsKeyStore;
    secrets: NatsSecretStore;
    queue: NatsQueue;
    calls: NatsCallStore;
    cronState: NatsCronState;
    cronClaims: CronClaims;
  }) {
    this.nc = parts.nc;
    this.nodeId = parts.nodeId;
    this.replicas = parts.replicas;
    this.store = parts.store;
    this.keys = parts.keys;
    this.secrets = parts.secrets;
    this.queue = parts.queue;
    this.calls = parts.calls;
    this.cronState = parts.cronState;
    this.cronClaims = parts.cronClaims;
  }

  /** Connects and opens everything shared (creating streams and buckets the first time). */
  static async open(options: ClusterOptions): Promise<Cluster> {
    const nodeId =
      options.nodeId ??
      `${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${Math.random().toString(36).slice(2, 8)}`;
    const nc = await connectCluster({ servers: options.servers, name: `nimbus ${nodeId}` });
    try {
      const replicas = options.replicas;
      const onInvalid = (bucket: string, key: string, error: string) =>
        options.onEvent?.({ type: 'cluster-record-invalid', bucket, key, error });
      // Before anything is read: keys sealed under another master key would not open here.
      await checkMasterKey(nc, options.masterKey, replicas);
      const [store, keys, secrets, queue, calls, cronState, cronClaims] = await Promise.all([
        NatsKvStore.open({ nc, nodeId, replicas, onInvalid }),
        NatsKeyStore.open({
          nc,
          replicas,
          onInvalid,
          sealer: new Sealer(deriveKey(options.masterKey, 'api-keys')),
        }),
        NatsSecretStore.open({
          nc,
          replicas,
          onInvalid,
          sealer: new Sealer(deriveKey(options.masterKey, 'secrets')),
        }),
        NatsQueue.open({ nc, replicas }),
        NatsCallStore.open({ nc, replicas }),
        NatsCronState.open(nc, replicas),
        CronClaims.open(nc, nodeId, replicas),
      ]);
      return new Cluster({
        nc,
        nodeId,
        replicas,
        store,
        keys,
        secrets,
        queue,
        calls,
        cronState,
        cronClaims,
      });
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
  }

  /** Shares bundles of this node's artifact store through the Object Store. */
  async openBundles(artifacts: Artifacts): Promise<NatsBundles> {
    this.#bundles = await NatsBundles.open({ nc: this.nc, artifacts, replicas: this.replicas });
    return this.#bundles;
  }

  get bundles(): NatsBundles | undefined {
    return this.#bundles;
  }

  /** Starts this node's heartbeat (once its URL is known). */
  async join(url: () => string, load: () => NodeLoad): Promise<Membership> {
    this.#membership = await Membership.open({
      nc: this.nc,
      nodeId: this.nodeId,
      url,
      load,
      replicas: this.replicas,
    });
    await this.#membership.start();
    return this.#membership;
  }

  get membership(): Membership | undefined {
    return this.#membership;
  }

  /** Leaves (removes this node's heartbeat), closes the mirrors and the connection (pending writes are flushed). */
  async close(): Promise<void> {
    await Promise.race([this.#membership?.stop(), new Promise((r) => setTimeout(r, CLOSE_DRAIN_MS).unref())]);
    this.queue.close();
    this.calls.close();
    this.cronState.close();
    this.store.close();
    this.keys.close();
    this.secrets.close();
    // Drain flushes what is pending; with NATS gone it would wait for a reconnect that may never come.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.nc.drain().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_DRAIN_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!this.nc.isClosed()) await this.nc.close().catch(() => {});
  }
}
