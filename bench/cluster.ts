// Cluster bench (`node --import tsx bench/cluster.ts`, or `npm run bench:cluster`): JetStream enqueue
// throughput with the default fsync interval vs `sync_interval: always`, then async throughput and sync
// invoke rps with 1, 2 and 3 in-process Nimbus nodes on one nats-server. Everything runs on this machine:
// read the per-node numbers with its core count in mind (docs/cluster.md explains). Prints JSON and a table.
import { cpus } from 'node:os';
import { connect } from '@nats-io/transport-node';
import autocannon from 'autocannon';
import { NatsQueue } from '../src/queue/nats-queue.js';
import { startClusterNodes } from '../test/helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../test/helpers/nats-server.js';
import { waitFor } from '../test/helpers/platform.js';

const cleanups: (() => Promise<void> | void)[] = [];
/** The helpers' `t`: what they start is stopped at the end (in reverse), also on failure. */
const scope = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) } as never;
const log = (line: string) => process.stderr.write(`[bench:cluster] ${line}\n`);

const ENQUEUES = Number(process.env.BENCH_ENQUEUES ?? 4000);
const ASYNC_CALLS = Number(process.env.BENCH_ASYNC_CALLS ?? 1500);
const SYNC_SECONDS = Number(process.env.BENCH_SYNC_SECONDS ?? 6);

async function enqueueRate(syncInterval: string | undefined): Promise<number> {
  const server = await startJetStream(scope, syncInterval ? { syncInterval } : {});
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  const queue = await NatsQueue.open({ nc, stream: 'BENCH' });
  cleanups.push(() => queue.close());
  const body = Buffer.alloc(512, 1);
  let next = 0;
  const started = performance.now();
  // 64 callers at a time, each waiting for its acknowledgement: what concurrent HTTP clients do.
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < ENQUEUES) {
        const i = next++;
        await queue.enqueue([{ id: `m${i}`, topic: 'fn', data: body }]);
      }
    }),
  );
  return ENQUEUES / ((performance.now() - started) / 1000);
}

async function nodesRun(count: number): Promise<{ asyncPerS: number; syncRps: number; p99Ms: number }> {
  const nats = await startJetStream(scope);
  const nodes = await startClusterNodes(scope, [nats.url], count, { autoscaler: {} });
  await nodes[0]!.deploy('hello', 'hello', { concurrency: 8, async: { concurrency: 8 }, scale: { max: 2 } });
  for (const node of nodes)
    await waitFor(async () => (await fetch(`${node.url}/function/hello`)).status === 200, 20_000, 'hello');
  // Async: queue ASYNC_CALLS through every node (round robin), then time until all are done.
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < ASYNC_CALLS) {
        const i = next++;
        const res = await fetch(`${nodes[i % count]!.url}/async-function/hello`, {
          method: 'POST',
          body: 'x',
        });
        await res.arrayBuffer();
        if (res.status !== 202) throw new Error(`async enqueue answered ${res.status}`);
      }
    }),
  );
  await waitFor(
    async () => {
      const { counts } = await nodes[0]!.client.call<{ counts: Record<string, number> }>(
        'GET',
        '/system/calls?function=hello&limit=0',
      );
      return counts.succeeded === ASYNC_CALLS;
    },
    300_000,
    'async calls to finish',
  );
  const asyncPerS = ASYNC_CALLS / ((performance.now() - started) / 1000);
  // Sync: one autocannon per node at once (a load balancer spreading evenly), 32 connections each.
  const results = await Promise.all(
    nodes.map(
      (node) =>
        new Promise<{ requests: { total: number }; latency: { p99: number } }>((resolve, reject) => {
          autocannon(
            { url: `${node.url}/function/hello`, connections: 32, duration: SYNC_SECONDS },
            (err, r) => (err ? reject(err) : resolve(r)),
          );
        }),
    ),
  );
  const syncRps = results.reduce((sum, r) => sum + r.requests.total, 0) / SYNC_SECONDS;
  const p99Ms = Math.max(...results.map((r) => r.latency.p99));
  return { asyncPerS, syncRps, p99Ms };
}

async function main(): Promise<void> {
  const skip = natsSkip();
  if (skip) throw new Error(skip);
  const out: Record<string, unknown> = { cores: cpus().length, at: new Date().toISOString() };
  log(`enqueue: ${ENQUEUES} messages of 512 B, 64 at a time, default sync interval`);
  out.enqueueDefaultPerS = Math.round(await enqueueRate(undefined));
  log('enqueue: sync_interval always');
  out.enqueueAlwaysPerS = Math.round(await enqueueRate('always'));
  const nodes: Record<number, unknown> = {};
  for (const count of [1, 2, 3]) {
    log(`${count} node(s): ${ASYNC_CALLS} async calls, ${SYNC_SECONDS} s of sync load`);
    const r = await nodesRun(count);
    nodes[count] = { asyncPerS: Math.round(r.asyncPerS), syncRps: Math.round(r.syncRps), p99Ms: r.p99Ms };
    // Stop this round's nodes and server before the next.
    while (cleanups.length > 0) await cleanups.pop()!();
  }
  out.nodes = nodes;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

try {
  await main();
} finally {
  while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch(() => {});
}
process.exit(0);
