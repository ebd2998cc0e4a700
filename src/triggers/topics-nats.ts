// The topic bus of a cluster: NATS. A subject no stream holds is a core queue subscription (group
// `nimbus-<fn>`: each message to one node, at most once); a subject a JetStream stream holds gets a durable
// consumer shared by every node, and each message is acknowledged only after its handler (which queues the
// call) resolved: at least once, then the async retry and dead-letter policy.
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type Msg, type MsgHdrs, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { NimbusError } from '../errors.js';
import type { TopicBus, TopicDelivery, TopicHandler, TopicMessage } from './topics.js';

export class NatsTopicBus implements TopicBus {
  readonly kind = 'nats' as const;
  readonly #nc: NatsConnection;
  #jsm: JetStreamManager | undefined;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  async #manager(): Promise<JetStreamManager> {
    this.#jsm ??= await jetstreamManager(this.#nc);
    return this.#jsm;
  }

  async subscribe(
    subject: string,
    group: string,
    handler: TopicHandler,
  ): Promise<{ delivery: TopicDelivery; stop(): void }> {
    const jsm = await this.#manager();
    const stream = await jsm.streams.find(subject).catch(() => undefined);
    if (stream) return this.#subscribeStream(jsm, stream, subject, group, handler);
    const sub = this.#nc.subscribe(subject, {
      queue: group,
      callback: (_err, m) => {
        void handler(toMessage(m)).then(
          (answer) => {
            if (m.reply) m.respond(answer ?? new Uint8Array());
          },
          () => {},
        );
      },
    });
    return { delivery: 'direct', stop: () => sub.unsubscribe() };
  }

  async #subscribeStream(
    jsm: JetStreamManager,
    stream: string,
    subject: string,
    group: string,
    handler: TopicHandler,
  ): Promise<{ delivery: TopicDelivery; stop(): void }> {
    const durable = `${group}_${Buffer.from(subject).toString('hex').slice(0, 64)}`;
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subject: subject,
      ack_wait: 30_000_000_000,
    });
    const consumer = await jetstream(this.#nc).consumers.get(stream, durable);
    const messages = await consumer.consume({
      max_messages: 32,
      callback: (m) => {
        void handler({
          subject: m.subject,
          data: Buffer.from(m.data),
          headers: headerPairs(m.headers),
        }).then(
          () => m.ack(),
          () => m.nak(1000),
        );
      },
    });
    return { delivery: 'stream', stop: () => void messages.close() };
  }

  async publish(subject: string, data: Buffer, headers: [string, string][] = []): Promise<void> {
    const h = natsHeaders();
    for (const [k, v] of headers) h.append(k, v);
    const jsm = await this.#manager();
    const stream = await jsm.streams.find(subject).catch(() => undefined);
    // On a stream: acknowledged by JetStream before the caller is told; else delivered to the server.
    if (stream) await jetstream(this.#nc).publish(subject, data, { headers: h });
    else {
      this.#nc.publish(subject, data, { headers: h });
      await this.#nc.flush();
    }
  }

  async request(subject: string, data: Buffer, timeoutMs: number): Promise<Buffer> {
    try {
      const reply = await this.#nc.request(subject, data, { timeout: timeoutMs });
      return Buffer.from(reply.data);
    } catch (err) {
      throw new NimbusError('ERR_TOPIC_NO_SUBSCRIBER', [subject, subject], { cause: err });
    }
  }

  async close(): Promise<void> {}
}

function toMessage(m: Msg): TopicMessage {
  return {
    subject: m.subject,
    data: Buffer.from(m.data),
    headers: headerPairs(m.headers),
    reply: m.reply || undefined,
  };
}

function headerPairs(h: MsgHdrs | undefined): [string, string][] {
  if (!h) return [];
  const out: [string, string][] = [];
  for (const key of h.keys()) for (const value of h.values(key)) out.push([key.toLowerCase(), value]);
  return out;
}
