// Function logs across a cluster. Each node keeps its own instances' lines in memory (logs/log-store.ts);
// a query asks every other node over NATS (one request, one answer per node) and merges the answers by
// time; a follower announces its interest, every node then forwards that function's new lines to it until
// the interest lapses, and lines already in an answer are not repeated. In-memory and best effort, like the
// store itself: a node that does not answer in time is left out. The subjects are under `nimbus.`, which no
// tenant's topic may use (config/function-spec.ts, topicProblem).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { instanceMatches, type LogFilter, type LogLine, type LogSource } from '../logs/log-source.js';
import type { LogEntry, LogStore } from '../logs/log-store.js';

const QUERY_SUBJECT = 'nimbus.logs.query';
const INTEREST_SUBJECT = 'nimbus.logs.interest';
/** A function's live lines (its id in hex: any id is a valid subject token that way). */
const liveSubject = (fn: string): string => `nimbus.logs.live.${Buffer.from(fn).toString('hex')}`;

/** How long a query waits for the other nodes' answers. */
const QUERY_WAIT_MS = 1500;
/** A follower repeats its interest this often; a node forwards for three times as long after the last. */
const INTEREST_REFRESH_MS = 5000;
const INTEREST_TTL_MS = 3 * INTEREST_REFRESH_MS;
/** Room kept in an answer for its envelope. */
const ANSWER_MARGIN_BYTES = 4096;

const filterSchema = z.object({
  tail: z.number().int().optional(),
  sinceMs: z.number().optional(),
  instance: z.string().max(300).optional(),
});
const querySchema = z.object({ from: z.string(), fn: z.string().max(300), filter: filterSchema });
const interestSchema = z.object({ from: z.string(), fn: z.string().max(300) });
const lineSchema = z.object({
  seq: z.number(),
  time: z.number(),
  fn: z.string(),
  instance: z.string(),
  stream: z.enum(['stdout', 'stderr']),
  text: z.string(),
  callId: z.string().optional(),
});
const answerSchema = z.object({ node: z.string(), lines: z.array(lineSchema) });
const liveSchema = z.object({ node: z.string(), line: lineSchema });

export interface ClusterLogsOptions {
  nc: NatsConnection;
  nodeId: string;
  local: LogStore;
  /** How many other nodes are alive (membership), when known: a query stops waiting once all answered. */
  otherNodes: () => number | undefined;
}

export class ClusterLogs implements LogSource {
  readonly #o: ClusterLogsOptions;
  readonly #subs: Subscription[] = [];
  /** Functions some other node follows: when their interest lapses, and how to stop forwarding. */
  readonly #forwarding = new Map<string, { until: number; stop: () => void }>();
  readonly #sweep: NodeJS.Timeout;

  constructor(options: ClusterLogsOptions) {
    this.#o = options;
    const { nc } = options;
    this.#subs.push(
      nc.subscribe(INTEREST_SUBJECT, { callback: (_err, m) => this.#onInterest(m.data) }),
      nc.subscribe(QUERY_SUBJECT, {
        callback: (_err, m) => {
          const answer = this.#answer(m.data);
          if (answer !== undefined && m.reply) m.respond(answer);
        },
      }),
    );
    this.#sweep = setInterval(() => this.#expire(), INTEREST_REFRESH_MS);
    this.#sweep.unref();
  }

  async query(fn: string, filter: LogFilter): Promise<LogLine[]> {
    return (await this.#gather(fn, filter)).lines;
  }

  follow(
    fn: string,
    filter: LogFilter,
    onLines: (lines: LogLine[]) => void,
    onClose: () => void,
  ): () => void {
    const { nc, nodeId, local } = this.#o;
    let stopped = false;
    // Until the past lines are out, new ones wait here; then each node's lines after its last one sent pass.
    let waiting: { node: string; seq: number; line: LogLine }[] | undefined = [];
    let lastSent = new Map<string, number>();
    const take = (node: string, seq: number, line: LogLine): void => {
      if (stopped || !instanceMatches(filter.instance, line.instance)) return;
      if (waiting) waiting.push({ node, seq, line });
      else if (seq > (lastSent.get(node) ?? 0)) onLines([line]);
    };
    const unsubscribe = local.subscribe(fn, (e) => take(nodeId, e.seq, this.#ownLine(e)), onClose);
    const live = nc.subscribe(liveSubject(fn), {
      callback: (_err, m) => {
        const parsed = liveSchema.safeParse(parseJson(m.data));
        if (parsed.success && parsed.data.node !== nodeId) {
          const { seq, line } = fromWire(parsed.data.line);
          take(parsed.data.node, seq, line);
        }
      },
    });
    // The interest goes out before the query: every node forwards from before it answers.
    const announce = (): void => nc.publish(INTEREST_SUBJECT, JSON.stringify({ from: nodeId, fn }));
    announce();
    const refresh = setInterval(announce, INTEREST_REFRESH_MS);
    refresh.unref();
    void this.#gather(fn, filter).then(
      ({ lines, lastSeq }) => {
        if (stopped) return;
        lastSent = lastSeq;
        onLines(lines);
        const held = waiting ?? [];
        waiting = undefined;
        for (const { node, seq, line } of held) take(node, seq, line);
      },
      () => {},
    );
    return () => {
      stopped = true;
      clearInterval(refresh);
      unsubscribe();
      live.unsubscribe();
    };
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const sub of this.#subs) sub.unsubscribe();
    for (const { stop } of this.#forwarding.values()) stop();
    this.#forwarding.clear();
  }

  /** This node's lines and the other nodes' answers, merged by time; the last seq seen of each node. */
  async #gather(fn: string, filter: LogFilter): Promise<{ lines: LogLine[]; lastSeq: Map<string, number> }> {
    const { nc, nodeId, local } = this.#o;
    const tagged: { node: string; seq: number; line: LogLine }[] = [];
    for (const e of this.#localLines(fn, filter))
      tagged.push({ node: nodeId, seq: e.seq, line: this.#ownLine(e) });
    // Where this node's live lines start, read with its lines (a line taken while others answer is live).
    const localSeq = local.seq;
    const others = this.#o.otherNodes();
    if (others === undefined || others > 0) {
      try {
        const replies = await nc.requestMany(QUERY_SUBJECT, JSON.stringify({ from: nodeId, fn, filter }), {
          strategy: others === undefined ? 'timer' : 'count',
          maxMessages: others ?? 0,
          maxWait: QUERY_WAIT_MS,
        });
        for await (const m of replies) {
          const parsed = answerSchema.safeParse(parseJson(m.data));
          if (!parsed.success || parsed.data.node === nodeId) continue;
          for (const wire of parsed.data.lines) tagged.push({ node: parsed.data.node, ...fromWire(wire) });
        }
      } catch {
        // No other node answered (or NATS is away): this node's lines are what there is.
      }
    }
    tagged.sort(
      (a, b) => a.line.time - b.line.time || (a.node < b.node ? -1 : a.node > b.node ? 1 : a.seq - b.seq),
    );
    const lastSeq = new Map<string, number>();
    for (const { node, seq } of tagged) lastSeq.set(node, Math.max(seq, lastSeq.get(node) ?? 0));
    lastSeq.set(nodeId, localSeq);
    let lines = tagged.map((t) => t.line);
    if (filter.tail !== undefined && filter.tail >= 0)
      lines = filter.tail === 0 ? [] : lines.slice(-filter.tail);
    return { lines, lastSeq };
  }

  /** This node's kept lines of `fn` that pass `filter` (the instance filter as lines show it). */
  #localLines(fn: string, filter: LogFilter): LogEntry[] {
    const lines = this.#o.local.query(fn, {
      ...(filter.sinceMs === undefined ? {} : { sinceMs: filter.sinceMs }),
    });
    const kept = lines.filter((e) => instanceMatches(filter.instance, this.#qualified(e.instance)));
    return filter.tail !== undefined && filter.tail >= 0
      ? kept.slice(kept.length - Math.min(filter.tail, kept.length))
      : kept;
  }

  /** Another node's query: this node's lines, the newest that fit in one message. */
  #answer(data: Uint8Array): string | undefined {
    const parsed = querySchema.safeParse(parseJson(data));
    if (!parsed.success || parsed.data.from === this.#o.nodeId) return undefined;
    const { fn, filter } = parsed.data;
    const entries = this.#localLines(fn, {
      ...(filter.tail === undefined ? {} : { tail: filter.tail }),
      ...(filter.sinceMs === undefined ? {} : { sinceMs: filter.sinceMs }),
      ...(filter.instance === undefined ? {} : { instance: filter.instance }),
    });
    const room = this.#o.nc.info?.max_payload ?? 1024 * 1024;
    const encoded = entries.map((e) => JSON.stringify({ ...e, instance: this.#qualified(e.instance) }));
    // Newest first until the message is full: a reader asking for the tail wants the last lines.
    let size = ANSWER_MARGIN_BYTES;
    let first = encoded.length;
    while (first > 0 && size + encoded[first - 1]!.length + 1 <= room) size += encoded[--first]!.length + 1;
    return `{"node":${JSON.stringify(this.#o.nodeId)},"lines":[${encoded.slice(first).join(',')}]}`;
  }

  #onInterest(data: Uint8Array): void {
    const parsed = interestSchema.safeParse(parseJson(data));
    if (!parsed.success || parsed.data.from === this.#o.nodeId) return;
    const { fn } = parsed.data;
    const until = Date.now() + INTEREST_TTL_MS;
    const current = this.#forwarding.get(fn);
    if (current) {
      current.until = until;
      return;
    }
    const { nc, nodeId, local } = this.#o;
    const subject = liveSubject(fn);
    const stop = local.subscribe(fn, (e) => {
      nc.publish(
        subject,
        JSON.stringify({ node: nodeId, line: { ...e, instance: this.#qualified(e.instance) } }),
      );
    });
    this.#forwarding.set(fn, { until, stop });
  }

  #expire(): void {
    const now = Date.now();
    for (const [fn, f] of this.#forwarding)
      if (f.until < now) {
        f.stop();
        this.#forwarding.delete(fn);
      }
  }

  #qualified(instance: string): string {
    return `${this.#o.nodeId}/${instance}`;
  }

  #ownLine(e: LogEntry): LogLine {
    const { seq: _seq, ...line } = e;
    return { ...line, instance: this.#qualified(e.instance) };
  }
}

/** A line as another node sent it: its seq there, and the line. */
function fromWire(wire: z.infer<typeof lineSchema>): { seq: number; line: LogLine } {
  const { seq, callId, ...line } = wire;
  return { seq, line: callId === undefined ? line : { ...line, callId } };
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
}
