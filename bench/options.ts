// The bench's settings: read once from the environment the caller passes in, validated, then frozen.

export interface BenchOptions {
  /** Length of one load measurement in seconds (BENCH_SECONDS). Default 5. */
  readonly seconds: number;
  /** Interleaved rounds of every load measurement (BENCH_ROUNDS). Default 3. */
  readonly rounds: number;
  /** Untimed load before the rounds, per server, in seconds (BENCH_WARMUP_SECONDS). Default 2. */
  readonly warmupSeconds: number;
  /** Cold starts measured, and as many `node -e 0` runs (BENCH_COLD_STARTS). Default 20. */
  readonly coldStarts: number;
  /** Connection counts measured. */
  readonly connections: readonly [low: number, high: number];
  /** Write the dated section of docs/benchmarks.md (BENCH_WRITE_DOC=0 turns it off). Default true. */
  readonly writeDoc: boolean;
}

const DEFAULTS = { seconds: 5, rounds: 3, warmupSeconds: 2, coldStarts: 20 };

function positiveNumber(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallback: number,
  min: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min)
    throw new Error(`${name}=${raw} is invalid: use a number ≥ ${min}`);
  return value;
}

export function readBenchOptions(env: Readonly<Record<string, string | undefined>>): BenchOptions {
  return Object.freeze({
    seconds: positiveNumber(env, 'BENCH_SECONDS', DEFAULTS.seconds, 1),
    rounds: Math.round(positiveNumber(env, 'BENCH_ROUNDS', DEFAULTS.rounds, 1)),
    warmupSeconds: positiveNumber(env, 'BENCH_WARMUP_SECONDS', DEFAULTS.warmupSeconds, 0),
    coldStarts: Math.round(positiveNumber(env, 'BENCH_COLD_STARTS', DEFAULTS.coldStarts, 1)),
    connections: [1, 32] as const,
    writeDoc: env.BENCH_WRITE_DOC !== '0',
  });
}

/** An upper bound on the whole run: past it the bench stops everything and fails. */
export function benchDeadlineMs(options: BenchOptions, loadTargets: number): number {
  // Every measurement may be repeated twice when the machine is busy (see throughput.ts).
  const perMeasurementMs = 3 * (options.seconds * 1000 + 15_000);
  const loadMs = (options.rounds * options.connections.length * loadTargets + loadTargets) * perMeasurementMs;
  const coldMs = options.coldStarts * 20_000;
  return 120_000 + loadMs + coldMs;
}
