// OpenFaaS's ways of saying what a Nimbus spec says: resource limits ("128Mi", "100m"), the watchdog's
// environment variables (exec_timeout, write_timeout, max_inflight) and the one namespace. Shared by the
// gateway's /system/functions and `nimbus deploy -f stack.yml`.
import { parseDurationMs } from './scale-labels.js';

export { OPENFAAS_NAMESPACE } from './namespace.js';
/** Annotation that keeps the `image` a function was deployed as (stack.yml or FunctionDeployment). */
export const IMAGE_ANNOTATION = 'nimbus.openfaas/image';

/** `128Mi`, `128M`, `1Gi`, `1G`, `512Ki`, `134217728` → MiB (rounded up); undefined when it does not parse. */
export function parseMemoryMb(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T|k|m)?\s*$/.exec(String(value));
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? '';
  const bytes: Record<string, number> = {
    '': 1,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    K: 1000,
    k: 1000,
    M: 1000 ** 2,
    G: 1000 ** 3,
    T: 1000 ** 4,
  };
  // A lower-case "m" is Kubernetes's milli: a fraction of a byte, never a real memory size.
  if (unit === 'm') return undefined;
  return Math.ceil((n * bytes[unit]!) / 1024 ** 2);
}

/** `100m` → 0.1, `0.5` → 0.5, `2` → 2 (cores); undefined when it does not parse. */
export function parseCpu(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)(m?)\s*$/.exec(String(value));
  if (!m) return undefined;
  const cores = m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
  return cores > 0 ? cores : undefined;
}

/** Limits as the spec keys they set; a value that does not parse is named in `problems`. */
export function specFromLimits(limits: { memory?: unknown; cpu?: unknown } | undefined | null): {
  spec: { memoryMb?: number; cpu?: number };
  problems: string[];
} {
  const spec: { memoryMb?: number; cpu?: number } = {};
  const problems: string[] = [];
  if (!limits) return { spec, problems };
  if (limits.memory !== undefined && limits.memory !== '') {
    const mb = parseMemoryMb(limits.memory as string);
    if (mb === undefined)
      problems.push(`limits.memory: "${String(limits.memory)}" is not a size such as 128Mi`);
    else spec.memoryMb = Math.max(32, mb);
  }
  if (limits.cpu !== undefined && limits.cpu !== '') {
    const cpu = parseCpu(limits.cpu as string);
    if (cpu === undefined)
      problems.push(`limits.cpu: "${String(limits.cpu)}" is not a CPU amount such as 100m`);
    else spec.cpu = Math.max(0.01, cpu);
  }
  return { spec, problems };
}

/**
 * The watchdog's variables that have a Nimbus key: `exec_timeout` (else `write_timeout`) is `timeoutMs`,
 * `max_inflight` is `concurrency`. The variables stay in the environment too.
 */
export function specFromWatchdogEnv(env: Readonly<Record<string, string>>): {
  timeoutMs?: number;
  concurrency?: number;
} {
  const out: { timeoutMs?: number; concurrency?: number } = {};
  for (const key of ['exec_timeout', 'write_timeout']) {
    const raw = env[key];
    if (raw === undefined) continue;
    // A bare number is seconds, as Go's watchdog reads it.
    const ms = /^\d+$/.test(raw) ? Number(raw) * 1000 : parseDurationMs(raw);
    if (ms !== undefined && ms > 0) {
      out.timeoutMs = Math.min(ms, 900_000);
      break;
    }
  }
  const inflight = Number(env.max_inflight);
  if (Number.isInteger(inflight) && inflight > 0) out.concurrency = Math.min(inflight, 1000);
  return out;
}
