// The node's one NATS connection: every server of the --cluster list, reconnecting for as long as the node
// runs (JetStream writes made while it is away fail and are reported, never acknowledged).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NimbusError } from '../errors.js';

export interface ClusterConnectOptions {
  servers: readonly string[];
  /** Shown in the server's connection list. */
  name: string;
  /** How long the first connection may take. Default 10 s. */
  timeoutMs?: number;
}

export async function connectCluster(options: ClusterConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: [...options.servers],
      name: options.name,
      timeout: options.timeoutMs ?? 10_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
    });
  } catch (err) {
    throw new NimbusError('ERR_CLUSTER_UNREACHABLE', [options.servers.join(','), (err as Error).message], {
      cause: err,
    });
  }
}
