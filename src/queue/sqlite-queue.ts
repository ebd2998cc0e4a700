// The embedded queue: a table in the platform's SQLite file, written through group commit (fsync before an
// enqueue resolves). A lease is a visibility time: taking a message pushes it into the future, so a message
// whose worker died (platform crash) becomes visible again when its lease runs out.
import type Database from 'better-sqlite3';
import type { GroupCommit } from './group-commit.js';
import type { Job, Queue, QueueMessage, QueueUsage, TakeOptions } from './queue.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queue_messages (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  data BLOB NOT NULL,
  enqueued_at INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  deliveries INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (topic, visible_at);
`;

/** When the only candidates are held by this process past their lease, look again this often. */
const HELD_RECHECK_MS = 250;

interface Row {
  id: string;
  enqueued_at: number;
  deliveries: number;
}

export interface SqliteQueueOptions {
  commit: GroupCommit;
  now?: () => number;
}

export class SqliteQueue implements Queue {
  private readonly commit: GroupCommit;
  private readonly now: () => number;
  private readonly stmts;
  /** Messages taken by this process and not yet settled: never handed out twice at once. */
  private readonly held = new Map<string, { settling: boolean }>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Per topic: messages held in the table and their bytes (kept here, so a cap check reads no table). */
  private readonly usageByTopic = new Map<string, QueueUsage>();
  private closed = false;

  constructor(options: SqliteQueueOptions) {
    this.commit = options.commit;
    this.now = options.now ?? Date.now;
    const db: Database.Database = this.commit.db;
    db.exec(SCHEMA);
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO queue_messages (id, topic, data, enqueued_at, visible_at) VALUES (?, ?, ?, ?, ?)',
      ),
      // Without the payload: candidates held here are skipped before any blob is read.
      visible: db.prepare<[string, number, number], Row>(
        `SELECT id, enqueued_at, deliveries FROM queue_messages
         WHERE topic = ? AND visible_at <= ? ORDER BY visible_at LIMIT ?`,
      ),
      data: db.prepare<[string], { data: Buffer }>('SELECT data FROM queue_messages WHERE id = ?'),
      lease: db.prepare('UPDATE queue_messages SET visible_at = ?, deliveries = deliveries + 1 WHERE id = ?'),
      setVisible: db.prepare('UPDATE queue_messages SET visible_at = ? WHERE id = ?'),
      remove: db.prepare('DELETE FROM queue_messages WHERE id = ?'),
      nextVisible: db.prepare<[string], { t: number | null }>(
        'SELECT min(visible_at) AS t FROM queue_messages WHERE topic = ?',
      ),
      topics: db.prepare<[], { topic: string }>('SELECT DISTINCT topic FROM queue_messages'),
      depth: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM queue_messages WHERE topic = ?'),
    };
    const held = db.prepare<[], { topic: string; n: number; bytes: number }>(
      'SELECT topic, count(*) AS n, sum(length(data)) AS bytes FROM queue_messages GROUP BY topic',
    );
    for (const r of held.all()) this.usageByTopic.set(r.topic, { messages: r.n, bytes: r.bytes });
  }

  usage(topic: string): QueueUsage {
    return this.usageByTopic.get(topic) ?? { messages: 0, bytes: 0 };
  }

  private count(topic: string, messages: number, bytes: number): void {
    const usage = this.usageByTopic.get(topic) ?? { messages: 0, bytes: 0 };
    usage.messages += messages;
    usage.bytes += bytes;
    if (usage.messages <= 0) this.usageByTopic.delete(topic);
    else this.usageByTopic.set(topic, usage);
  }

  async enqueue(messages: readonly QueueMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const now = this.now();
    for (const m of messages) this.count(m.topic, 1, m.data.length);
    try {
      await this.commit.write(() => {
        for (const m of messages) this.stmts.insert.run(m.id, m.topic, m.data, now, now + (m.delayMs ?? 0));
      });
    } catch (err) {
      for (const m of messages) this.count(m.topic, -1, -m.data.length);
      throw err;
    }
    for (const topic of new Set(messages.map((m) => m.topic))) this.wake(topic);
  }

  async take(topic: string, options: TakeOptions): Promise<Job[]> {
    const deadline = this.now() + (options.waitMs ?? 0);
    for (;;) {
      if (this.closed) return [];
      const jobs = this.takeNow(topic, options.max);
      if (jobs.length > 0) {
        try {
          // Durable before the caller runs anything: the delivery count and the lease survive a crash.
          await this.commit.write(() => {
            const visibleAt = this.now() + options.leaseMs;
            for (const job of jobs) this.stmts.lease.run(visibleAt, job.id);
          });
        } catch (err) {
          for (const job of jobs) this.held.delete(job.id);
          throw err;
        }
        return jobs;
      }
      const now = this.now();
      if (now >= deadline) return [];
      const next = this.stmts.nextVisible.get(topic)?.t ?? Number.POSITIVE_INFINITY;
      // A candidate already due was filtered out as held here (its worker is late renewing): look later.
      const dueIn = next > now ? next - now : HELD_RECHECK_MS;
      await this.waitFor(topic, Math.min(deadline - now, dueIn));
    }
  }

  private takeNow(topic: string, max: number): Job[] {
    if (max <= 0) return [];
    const rows = this.stmts.visible.all(topic, this.now(), max + this.held.size);
    const jobs: Job[] = [];
    for (const row of rows) {
      if (this.held.has(row.id)) continue;
      const data = this.stmts.data.get(row.id)?.data;
      if (!data) continue;
      this.held.set(row.id, { settling: false });
      jobs.push({
        id: row.id,
        topic,
        data,
        enqueuedAt: row.enqueued_at,
        deliveries: row.deliveries + 1,
      });
      if (jobs.length === max) break;
    }
    return jobs;
  }

  async ack(job: Job): Promise<void> {
    await this.remove(job);
  }

  async term(job: Job): Promise<void> {
    await this.remove(job);
  }

  private async remove(job: Job): Promise<void> {
    let removed = 0;
    await this.settle(job, () => {
      removed = this.stmts.remove.run(job.id).changes;
    });
    if (removed > 0) this.count(job.topic, -1, -job.data.length);
  }

  async nak(job: Job, delayMs: number): Promise<void> {
    await this.settle(job, () => this.stmts.setVisible.run(this.now() + Math.max(0, delayMs), job.id));
    this.wake(job.topic);
  }

  async extend(job: Job, leaseMs: number): Promise<void> {
    // A renewal racing an ack or a nak must not push the message's visibility back out.
    const renewable = (): boolean => this.held.get(job.id)?.settling === false;
    if (!renewable()) return;
    await this.commit.write(() => {
      if (renewable()) this.stmts.setVisible.run(this.now() + leaseMs, job.id);
    });
  }

  private async settle(job: Job, op: () => void): Promise<void> {
    const held = this.held.get(job.id);
    if (held) held.settling = true;
    try {
      await this.commit.write(op);
    } finally {
      this.held.delete(job.id);
    }
  }

  topics(): string[] {
    return this.stmts.topics.all().map((r) => r.topic);
  }

  /** Messages of `topic` not yet acknowledged (visible, delayed or leased). */
  depth(topic: string): number {
    return this.stmts.depth.get(topic)?.n ?? 0;
  }

  close(): void {
    this.closed = true;
    for (const topic of [...this.waiters.keys()]) this.wake(topic);
  }

  private wake(topic: string): void {
    const set = this.waiters.get(topic);
    if (!set) return;
    this.waiters.delete(topic);
    for (const wake of set) wake();
  }

  private waitFor(topic: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(topic);
      if (!set) {
        set = new Set();
        this.waiters.set(topic, set);
      }
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.get(topic)?.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(1, ms));
      set.add(wake);
    });
  }
}
