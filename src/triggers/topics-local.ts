// The topic bus of a single node without NATS: in-process, the same API as NATS's (queue groups: one
// delivery per message per group, spread round-robin), nothing durable — said once at start.
import { NimbusError } from '../errors.js';
import {
  subjectMatches,
  type TopicBus,
  type TopicDelivery,
  type TopicHandler,
  type TopicMessage,
} from './topics.js';

interface LocalSubscription {
  pattern: string;
  group: string;
  handler: TopicHandler;
}

export class InProcessTopicBus implements TopicBus {
  readonly kind = 'in-process' as const;
  readonly #subscriptions = new Set<LocalSubscription>();
  readonly #turn = new Map<string, number>();

  async subscribe(
    subject: string,
    group: string,
    handler: TopicHandler,
  ): Promise<{ delivery: TopicDelivery; stop(): void }> {
    const sub = { pattern: subject, group, handler };
    this.#subscriptions.add(sub);
    return { delivery: 'direct', stop: () => this.#subscriptions.delete(sub) };
  }

  /** One subscriber of each group that matches, round-robin within the group. */
  #targets(subject: string): LocalSubscription[] {
    const groups = new Map<string, LocalSubscription[]>();
    for (const sub of this.#subscriptions) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      groups.set(sub.group, [...(groups.get(sub.group) ?? []), sub]);
    }
    return [...groups].map(([group, subs]) => {
      const turn = this.#turn.get(group) ?? 0;
      this.#turn.set(group, turn + 1);
      return subs[turn % subs.length]!;
    });
  }

  async publish(subject: string, data: Buffer, headers: [string, string][] = []): Promise<void> {
    const message: TopicMessage = { subject, data, headers };
    for (const sub of this.#targets(subject)) void sub.handler(message).catch(() => {});
  }

  async request(subject: string, data: Buffer, timeoutMs: number): Promise<Buffer> {
    const [target] = this.#targets(subject);
    if (!target) throw new NimbusError('ERR_TOPIC_NO_SUBSCRIBER', [subject, subject]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new NimbusError('ERR_TOPIC_NO_SUBSCRIBER', [subject, subject])),
        timeoutMs,
      );
    });
    try {
      const answer = await Promise.race([
        target.handler({ subject, data, headers: [], reply: '_INPROCESS' }),
        timeout,
      ]);
      return answer ?? Buffer.alloc(0);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#subscriptions.clear();
  }
}
