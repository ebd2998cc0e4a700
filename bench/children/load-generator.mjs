// The load generator, in its own process (pinned apart from the servers). For plain GETs it runs wrk when
// it is installed (C: it does not run out of core before a bare node:http server does, as autocannon does
// at 32 connections); otherwise, or for requests with a method, body or headers, or with
// BENCH_LOAD_GENERATOR=autocannon, autocannon in this process with latency kept at 1 µs resolution
// (autocannon's own histogram rounds to whole milliseconds).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { serveIpc } from './ipc.mjs';

/** wrk's path, when installed and not turned off. */
const WRK = (() => {
  if (process.env.BENCH_LOAD_GENERATOR === 'autocannon') return undefined;
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

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
function run(args) {
  const { method, body, headers } = args;
  return WRK && !method && !body && !headers ? runWrk(args) : runAutocannon(args);
}

/** CPU this process's reaped children used so far (ms): utime + stime of what it waited for. */
function childrenCpuMs() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // cutime and cstime are fields 16 and 17 of stat: 13 and 14 counted from the state field.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
}

const WRK_UNITS_US = { us: 1, ms: 1000, s: 1_000_000 };

/** wrk -t1 for `seconds`; its --latency percentiles (µs resolution below 1 ms) and its CPU once reaped. */
function runWrk({ url, connections, seconds }) {
  return new Promise((resolve, reject) => {
    const cpuBefore = childrenCpuMs();
    const startedAt = performance.now();
    const child = spawn(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`wrk exited with ${code}: ${out.slice(-500)}`));
        return;
      }
      const wallMs = performance.now() - startedAt;
      const number = (re) => Number(re.exec(out)?.[1] ?? 0);
      const percentile = (p) => {
        const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
        return m ? Number(m[1]) * WRK_UNITS_US[m[2]] : Number.NaN;
      };
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const requests = number(/(\d+) requests in/);
      resolve({
        generator: 'wrk',
        requests,
        rps: number(/Requests\/sec:\s+([\d.]+)/),
        p50Us: percentile(50),
        p99Us: percentile(99),
        errors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
        non2xx: number(/Non-2xx or 3xx responses: (\d+)/),
        loadCpuPct: ((childrenCpuMs() - cpuBefore) / wallMs) * 100,
      });
    });
  });
}

function runAutocannon({ url, connections, seconds, method, body, headers }) {
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
          generator: 'autocannon',
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
