// The invoke seam without processes: a Pool driven with stand-in instances (they implement PoolInstance,
// nothing is cast). Leases, waiting and cancelling, credit both ways, timeouts, counting, cold marking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NimbusError } from '../../src/errors.js';
import type { Lease, StreamEnd, StreamSink } from '../../src/instances/lease.js';
import { Pool, type PoolInstance, type PoolOptions } from '../../src/instances/pool.js';
import { FLAG_END, STREAM_WINDOW_BYTES } from '../../src/instances/protocol.js';

/** An instance in memory: records what the stream sends, and lets the test answer as a runner would. */
class FakeInstance implements PoolInstance {
  readonly id: string;
  readonly pid = undefined;
  readonly initMs = 12.5;
  readonly style = 'fetch';
  exitReason: string | undefined;
  readonly whenClosed: Promise<void>;
  readonly streams = new Map<number, StreamEnd>();
  readonly sent: string[] = [];
  #close: () => void = () => {};
  #next = 1;
  #closed = false;

  constructor(id: string) {
    this.id = id;
    this.whenClosed = new Promise((resolve) => {
      this.#close = resolve;
    });
  }

  get usable(): boolean {
    return !this.#closed;
  }

  open(end: StreamEnd, head: string, flags: number): number | undefined {
    if (this.#closed) return undefined;
    const id = this.#next++;
    this.streams.set(id, end);
    this.sent.push(`open ${id} ${head.split('\0').slice(0, 2).join(' ')}${flags & FLAG_END ? ' END' : ''}`);
    return id;
  }

  sendBody(id: number, chunk: Uint8Array, end: boolean): void {
    this.sent.push(`body ${id} ${chunk.length}${end ? ' END' : ''}`);
  }

  sendWindow(id: number, bytes: number): void {
    this.sent.push(`window ${id} ${bytes}`);
  }

  cancel(id: number): void {
    if (this.streams.delete(id)) this.sent.push(`cancel ${id}`);
  }

  kill(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.exitReason = reason;
    this.sent.push(`kill ${reason}`);
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) s.error({ code: 'ERR_INSTANCE_CRASHED', status: 502 } as NimbusError);
    this.#close();
  }

  async stop(reason: string): Promise<void> {
    this.kill(reason);
  }

  /** The runner answers on stream `id`. */
  stream(id: number): StreamEnd {
    return this.streams.get(id)!;
  }
}

/** A sink that writes down what it hears. */
class Recorder implements StreamSink {
  readonly heard: string[] = [];
  consume = true;
  error: NimbusError | undefined;
  onHead(status: number, headers: string[], end: boolean): void {
    this.heard.push(`head ${status} ${headers.join(',')}${end ? ' END' : ''}`);
  }
  onBody(chunk: Buffer, end: boolean): boolean {
    this.heard.push(`body ${chunk.length}${end ? ' END' : ''}`);
    return this.consume;
  }
  onDrain(): void {
    this.heard.push('drain');
  }
  onError(error: NimbusError): void {
    this.error = error;
    this.heard.push(`error ${error.code}`);
  }
}

function makePool(options: Partial<PoolOptions> = {}): {
  pool: Pool;
  instances: FakeInstance[];
  calls: [number, boolean][];
  start: () => void;
} {
  const instances: FakeInstance[] = [];
  const calls: [number, boolean][] = [];
  const pending: (() => void)[] = [];
  const pool = new Pool({
    name: 'f',
    version: 1,
    concurrency: 1,
    minInstances: 0,
    maxInstances: 2,
    maxQueue: 2,
    timeoutMs: 60_000,
    onCall: (status, _seconds, cold) => calls.push([status, cold]),
    startInstance: () => {
      const instance = new FakeInstance(`i${instances.length + 1}`);
      instances.push(instance);
      return { instance, started: new Promise<void>((resolve) => pending.push(resolve)) };
    },
    ...options,
  });
  return { pool, instances, calls, start: () => pending.shift()!() };
}

const granted = (lease: Lease): Promise<void> =>
  new Promise((resolve, reject) => lease.wait({ granted: () => resolve(), refused: (err) => reject(err) }));

test('a cold request waits for the start it caused, is marked cold, and its slot goes to the next in line', async () => {
  const { pool, instances, calls, start } = makePool();
  const first = pool.acquire();
  const second = pool.acquire();
  assert.equal(first.granted, false);
  assert.equal(instances.length, 1, 'one start serves the cold requests');
  start();
  await granted(first);
  assert.equal(first.cold, true);
  assert.equal(first.initMs, 12.5);
  assert.equal(second.granted, false, 'concurrency 1: the second waits');

  const sink = new Recorder();
  first.open(sink, 'GET\0/a', true);
  const runner = instances[0]!.stream(1);
  runner.head(200, ['content-type', 'text/plain'], false);
  runner.body(Buffer.from('hi'), true);
  assert.deepEqual(sink.heard, ['head 200 content-type,text/plain', 'body 2 END']);
  await granted(second);
  assert.equal(second.instanceId, 'i1', 'the freed slot went to the waiter');
  assert.deepEqual(calls, [[200, true]]);
  assert.equal(pool.stats().inflight, 1);
});

test('a waiter that goes away is counted 499 and never granted; past maxQueue the pool refuses', async () => {
  const { pool, calls, start, instances } = makePool({ maxQueue: 1 });
  const waiting = pool.acquire();
  assert.throws(() => pool.acquire(), { code: 'ERR_QUEUE_FULL' });
  waiting.cancel();
  assert.equal(pool.stats().queued, 0);
  const next = pool.acquire();
  start();
  await granted(next);
  assert.equal(waiting.granted, false);
  assert.deepEqual(calls, [
    [429, false],
    [499, false],
  ]);
  assert.equal(instances.length, 1);
});

test('request bodies go out as the function grants credit; onDrain says when to write again', async () => {
  const { pool, instances, start } = makePool();
  const lease = pool.acquire();
  start();
  await granted(lease);
  const sink = new Recorder();
  const stream = lease.open(sink, 'POST\0/up', false);
  const instance = instances[0]!;
  assert.equal(stream.write(new Uint8Array(STREAM_WINDOW_BYTES - 10)), true);
  assert.equal(stream.write(new Uint8Array(100)), false, 'past the window');
  stream.end(new Uint8Array(5));
  assert.deepEqual(instance.sent.slice(1), [`body 1 ${STREAM_WINDOW_BYTES - 10}`, 'body 1 10']);
  instance.stream(1).window(50);
  assert.deepEqual(instance.sent.slice(3), ['body 1 50']);
  instance.stream(1).window(STREAM_WINDOW_BYTES);
  assert.deepEqual(instance.sent.slice(4), ['body 1 45 END'], 'the rest, and the end with it');
  assert.deepEqual(sink.heard, [], 'no drain once the body has ended');
});

test('response credit: given back as consumed, held while the sink is backed up, and a runner past its window is stopped', async () => {
  const { pool, instances, start, calls } = makePool();
  const lease = pool.acquire();
  start();
  await granted(lease);
  const sink = new Recorder();
  const stream = lease.open(sink, 'GET\0/big', true);
  const instance = instances[0]!;
  const runner = instance.stream(1);
  runner.head(200, [], false);
  const quarter = STREAM_WINDOW_BYTES / 4;
  runner.body(Buffer.alloc(quarter), false);
  assert.equal(instance.sent.at(-1), `window 1 ${quarter}`);
  sink.consume = false;
  runner.body(Buffer.alloc(quarter), false);
  runner.body(Buffer.alloc(quarter), false);
  assert.equal(instance.sent.at(-1), `window 1 ${quarter}`, 'nothing given back while held');
  stream.resume();
  assert.equal(instance.sent.at(-1), `window 1 ${2 * quarter}`);
  sink.consume = true;
  runner.body(Buffer.alloc(STREAM_WINDOW_BYTES + 1), false);
  assert.match(instance.sent.at(-1)!, /^kill protocol error: stream 1 sent past its window/);
  assert.equal(sink.error?.code, 'ERR_INSTANCE_CRASHED');
  assert.deepEqual(calls, [[502, true]]);
});

test('only final statuses: a 1xx answer is a 502 ERR_HANDLER_INVALID_RESPONSE and the stream is cancelled', async () => {
  const { pool, instances, start, calls } = makePool();
  const lease = pool.acquire();
  start();
  await granted(lease);
  const sink = new Recorder();
  lease.open(sink, 'GET\0/', true);
  instances[0]!.stream(1).head(101, ['upgrade', 'x'], false);
  assert.equal(sink.error?.code, 'ERR_HANDLER_INVALID_RESPONSE');
  assert.equal(sink.error?.status, 502);
  assert.equal(instances[0]!.sent.at(-1), 'cancel 1');
  assert.deepEqual(calls, [[502, true]]);
  assert.equal(pool.stats().inflight, 0);
});

test('past timeoutMs the call fails with 504 and its instance is stopped', async () => {
  const { pool, instances, start, calls } = makePool({ timeoutMs: 30 });
  const lease = pool.acquire();
  start();
  await granted(lease);
  const sink = new Recorder();
  const failed = new Promise<void>((resolve) => {
    sink.onError = (error) => {
      sink.error = error;
      resolve();
    };
  });
  lease.open(sink, 'GET\0/hang', true);
  // The lease's deadline timer is unref'd (a gateway's server keeps the loop alive): hold it here.
  const hold = setTimeout(() => {}, 60_000);
  await failed;
  clearTimeout(hold);
  assert.equal(sink.error?.code, 'ERR_HANDLER_TIMEOUT');
  assert.match(instances[0]!.sent.at(-1)!, /^kill a request on it ran past timeoutMs \(30 ms\)/);
  assert.deepEqual(calls, [[504, true]]);
});

test('a caller that goes away mid-answer cancels the stream and is counted 499', async () => {
  const { pool, instances, start, calls } = makePool();
  const lease = pool.acquire();
  start();
  await granted(lease);
  const stream = lease.open(new Recorder(), 'GET\0/', true);
  instances[0]!.stream(1).head(200, [], false);
  stream.cancel();
  assert.equal(instances[0]!.sent.at(-1), 'cancel 1');
  assert.deepEqual(calls, [[499, true]]);
  assert.equal(pool.acquire().granted, true, 'its slot is free again');
});

test('the idlest instance is offered for eviction, holding its budget', async () => {
  const { pool, instances, start } = makePool({ maxInstances: 2 });
  pool.scaleTo(2);
  start();
  start();
  await new Promise((r) => setImmediate(r));
  const busy = pool.acquire();
  assert.equal(busy.granted, true);
  const victim = pool.evictionCandidate();
  assert.ok(victim);
  assert.notEqual(
    victim.holder,
    instances.find((i) => i.id === busy.instanceId),
  );
  victim.evict('evicted: the memory budget is full');
  assert.equal(pool.stats().instances, 1);
});
