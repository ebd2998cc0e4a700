// The load generator: autocannon driven from its own process (pinned apart from the servers), with
// latency kept at 1 µs resolution (autocannon's own histogram rounds to whole milliseconds).
import autocannon from 'autocannon';
import { serveIpc } from './ipc.mjs';

/** Latencies up to this are kept per µs; longer ones are kept exactly in a list. */
const HISTOGRAM_RANGE_US = 1_000_000;

class LatencyHistogram {
  counts = new Uint32Array(HISTOGRAM_RANGE_US);
  overflowUs = [];
  total = 0;

  record(us) {
    const value = Math.max(0, Math.round(us));
    if (value < HISTOGRAM_RANGE_US) this.counts[value]++;
    else this.overflowUs.push(value);
    this.total++;
  }

  /** Nearest-rank percentile in µs (p in 0..100). */
  percentile(p) {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let us = 0; us < HISTOGRAM_RANGE_US; us++) {
      seen += this.counts[us];
      if (seen >= rank) return us;
    }
    const sorted = this.overflowUs.toSorted((a, b) => a - b);
    return sorted[rank - seen - 1];
  }
}

/**
 * @param {{ url: string, connections: number, seconds: number, method?: string, body?: string, headers?: Record<string, string> }} args
 */
function run({ url, connections, seconds, method, body, headers }) {
  return new Promise((resolve, reject) => {
    const latency = new LatencyHistogram();
    const cpuBefore = process.cpuUsage();
    const startedAt = performance.now();
    const request = {
      ...(method ? { method } : {}),
      ...(body ? { body } : {}),
      ...(headers ? { headers } : {}),
    };
    const instance = autocannon(
      { url, connections, duration: seconds, pipelining: 1, ...request },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        const wallMs = performance.now() - startedAt;
        const cpu = process.cpuUsage(cpuBefore);
        resolve({
          requests: result.requests.total,
          rps: result.requests.total / result.duration,
          p50Us: latency.percentile(50),
          p99Us: latency.percentile(99),
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
          loadCpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300) latency.record(responseTimeMs * 1000);
    });
  });
}

serveIpc({ ready: {}, handlers: { run } });
