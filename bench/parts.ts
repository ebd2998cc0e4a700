// Which parts of `npm run bench` run (BENCH_ONLY) and the settings of the parts added for scaling, cold
// starts, idle cost, keep-alive and the instance protocol: read once from the environment, then frozen.

export const BENCH_PARTS = ['warm', 'cold', 'scale', 'idle', 'keepalive', 'protocol', 'sandbox'] as const;
export type BenchPart = (typeof BENCH_PARTS)[number];

export interface PartOptions {
  /** Parts to run (BENCH_ONLY, comma-separated; default: all). */
  readonly parts: ReadonlySet<BenchPart>;
  /** Cold starts per platform, with and without stem cells, and as many `node -e 0` (BENCH_COLD_FROM_ZERO). Default 50. */
  readonly coldStarts: number;
  /** Repeats of the 1 → 64 client step (BENCH_SCALE_ROUNDS). Default 3. */
  readonly scaleRounds: number;
  /** Length of the step at 64 clients, in seconds (BENCH_SCALE_SECONDS). Default 15. */
  readonly scaleSeconds: number;
  /** Functions deployed for the idle cost (BENCH_IDLE_FUNCTIONS). Default 1,000. */
  readonly idleFunctions: number;
  /** Functions of the synthetic keep-alive trace (BENCH_KEEPALIVE_FUNCTIONS). Default 2,000. */
  readonly keepAliveFunctions: number;
  /** Days of the synthetic trace (BENCH_KEEPALIVE_DAYS). Default 7. */
  readonly keepAliveDays: number;
  /** Seed of the synthetic trace (BENCH_KEEPALIVE_SEED). Default 2019. */
  readonly keepAliveSeed: number;
  /**
   * Azure Functions 2019 `invocations_per_function_md.anon.dNN.csv` files to replay instead of the
   * synthetic trace (BENCH_KEEPALIVE_TRACE, comma-separated paths, one per day in order).
   */
  readonly keepAliveTraceFiles: readonly string[];
}

const DEFAULTS = {
  coldStarts: 50,
  scaleRounds: 3,
  scaleSeconds: 15,
  idleFunctions: 1000,
  keepAliveFunctions: 2000,
  keepAliveDays: 7,
  keepAliveSeed: 2019,
};

type Env = Readonly<Record<string, string | undefined>>;

function whole(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name}=${raw} is invalid: use a whole number ≥ ${min}`);
  return value;
}

function readParts(env: Env): Set<BenchPart> {
  const raw = env.BENCH_ONLY;
  if (raw === undefined || raw.trim() === '') return new Set(BENCH_PARTS);
  const parts = new Set<BenchPart>();
  for (const word of raw.split(',').map((w) => w.trim().toLowerCase())) {
    if (word === '') continue;
    if (!(BENCH_PARTS as readonly string[]).includes(word))
      throw new Error(`BENCH_ONLY=${raw} is invalid: "${word}" is not one of ${BENCH_PARTS.join(', ')}`);
    parts.add(word as BenchPart);
  }
  return parts;
}

export function readPartOptions(env: Env): PartOptions {
  const trace = env.BENCH_KEEPALIVE_TRACE?.trim();
  return Object.freeze({
    parts: readParts(env),
    coldStarts: whole(env, 'BENCH_COLD_FROM_ZERO', DEFAULTS.coldStarts, 1),
    scaleRounds: whole(env, 'BENCH_SCALE_ROUNDS', DEFAULTS.scaleRounds, 1),
    scaleSeconds: whole(env, 'BENCH_SCALE_SECONDS', DEFAULTS.scaleSeconds, 3),
    idleFunctions: whole(env, 'BENCH_IDLE_FUNCTIONS', DEFAULTS.idleFunctions, 1),
    keepAliveFunctions: whole(env, 'BENCH_KEEPALIVE_FUNCTIONS', DEFAULTS.keepAliveFunctions, 1),
    keepAliveDays: whole(env, 'BENCH_KEEPALIVE_DAYS', DEFAULTS.keepAliveDays, 1),
    keepAliveSeed: whole(env, 'BENCH_KEEPALIVE_SEED', DEFAULTS.keepAliveSeed, 0),
    keepAliveTraceFiles: trace ? trace.split(',').map((p) => p.trim()) : [],
  });
}

/**
 * An upper bound on the parts' run time (past it the bench stops everything and fails). `seconds` and
 * `rounds` are the warm bench's BENCH_SECONDS and BENCH_ROUNDS, which the protocol and idle parts reuse.
 */
export function partsDeadlineMs(options: PartOptions, seconds: number, rounds: number): number {
  const { parts } = options;
  let ms = 0;
  // Each sample waits for scale to zero (≤ 15 s) and may be repeated twice.
  if (parts.has('cold')) ms += 30_000 + options.coldStarts * 3 * 3 * 5_000;
  if (parts.has('scale')) ms += 30_000 + options.scaleRounds * (options.scaleSeconds * 1000 + 60_000);
  // Deploys take ~0.1-0.5 s each on a busy core; then the latency rounds before and after.
  if (parts.has('idle'))
    ms += 120_000 + options.idleFunctions * 2_000 + 2 * rounds * 3 * (seconds * 1000 + 15_000);
  if (parts.has('keepalive')) ms += 60_000 + options.keepAliveFunctions * options.keepAliveDays * 20;
  // 4 servers × 2 connection counts × rounds, each repeated twice at most, plus warm-ups.
  if (parts.has('protocol')) ms += 60_000 + (4 * 2 * rounds * 3 + 4) * (seconds * 1000 + 15_000);
  // Four platforms: cold starts with and without stem cells, then 3 targets × 2 connection counts × rounds.
  if (parts.has('sandbox'))
    ms += options.coldStarts * 4 * 3 * 5_000 + 3 * 2 * rounds * 3 * (seconds * 1000 + 15_000);
  return ms;
}
