// Nimbus for the cold-start, scale-up and idle-cost parts of the bench: the built platform (dist/) with a
// platform config given as JSON on the command line, in its own process. Besides readiness it answers
// `memory` (its RSS and heap after a full GC), `ticks` (how long the autoscaler's ticks took, and the
// event-loop delay, since the last call), `instances` (instances and starts over every function,
// straight from the dispatcher, so waiting for zero does not load the control API), and `watch` /
// `watched` (the autoscaler's view of one function and its pool after every tick, timestamped).
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadPlatformConfig } from '../../dist/config/platform.js';
import { startPlatform } from '../../dist/platform.js';
import { sendEvent, serveIpc } from './ipc.mjs';

const [configJson] = process.argv.slice(2);
if (!configJson) {
  process.stderr.write('usage: nimbus-configured.mjs <platform config JSON>\n');
  process.exit(2);
}

// A full GC before reading memory: RSS after it is what the platform holds, not garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

const log = {
  output() {},
  event(event) {
    if (
      event.type === 'instance-ready' ||
      event.type === 'instance-start-failed' ||
      event.type === 'instance-exit' ||
      // The one line saying which isolation is in force (bench/sandbox.ts reports it).
      event.type === 'sandbox'
    )
      sendEvent(event);
  },
};

const platform = await startPlatform(loadPlatformConfig({ port: 0, ...JSON.parse(configJson) }), log);

// Times every autoscaler tick: the interval calls `this.tick()`, so an own property takes its place.
const tickUs = [];
const { autoscaler } = platform;
const tick = autoscaler.tick.bind(autoscaler);
/** @type {{ name: string, records: object[] } | undefined} */
let watching;
autoscaler.tick = () => {
  const startedAt = performance.now();
  tick();
  tickUs.push((performance.now() - startedAt) * 1000);
  if (watching) {
    const view = autoscaler.view(watching.name);
    const stats = platform.dispatcher.get(watching.name)?.pool.stats();
    watching.records.push({
      atEpochMs: performance.timeOrigin + startedAt,
      panic: view?.panic ?? false,
      desired: view?.desired ?? 0,
      instances: stats?.instances ?? 0,
      starting: stats?.starting ?? 0,
      queued: stats?.queued ?? 0,
    });
  }
};
const LOOP_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loopDelay.enable();

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const lateMs = (ns) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);

function ticks() {
  const sorted = tickUs.splice(0).sort((a, b) => a - b);
  const result = {
    count: sorted.length,
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    maxUs: sorted.length > 0 ? sorted[sorted.length - 1] : null,
    // The histogram holds the time between samples: the delay is what passes the sampling interval.
    loopDelayP50Ms: lateMs(loopDelay.percentile(50)),
    loopDelayP99Ms: lateMs(loopDelay.percentile(99)),
    loopDelayMaxMs: lateMs(loopDelay.max),
  };
  loopDelay.reset();
  return result;
}

function memory() {
  gc();
  gc();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const usage = process.memoryUsage();
  return {
    rssMb: (kb('VmRSS') * 1024) / 1e6,
    heapUsedMb: usage.heapUsed / 1e6,
    externalMb: usage.external / 1e6,
  };
}

function instances() {
  let functions = 0;
  let running = 0;
  let starting = 0;
  for (const entry of platform.dispatcher.entries()) {
    const stats = entry.pool.stats();
    functions++;
    running += stats.instances;
    starting += stats.starting;
  }
  return { functions, instances: running, starting };
}

function watch({ name }) {
  watching = { name, records: [] };
  return true;
}

function watched() {
  const records = watching?.records ?? [];
  watching = undefined;
  return records;
}

serveIpc({
  ready: { url: platform.url, token: platform.token },
  handlers: { memory, ticks, instances, watch, watched },
  close: () => platform.close(),
});
