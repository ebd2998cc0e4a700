// What the bench parts beyond the warm path share: the run's work dir, pinning, child processes (started
// through run.ts so its cleanup stops them), a Nimbus started with a given platform config, functions
// built from a source string, and waits for scale to zero and for a quiet core.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type BuiltFunction, buildFunction } from '../src/build/build.js';
import { NimbusClient } from '../src/cli/client.js';
import type { PlatformConfigInput } from '../src/config/platform.js';
import type { BenchChild, BenchChildOptions } from './bench-child.js';
import type { BenchOptions } from './options.js';
import type { PartOptions } from './parts.js';
import type { Pinning } from './pinning.js';
import { descendants, treeCpuMs } from './proc.js';

export interface RunInfo {
  /** YYYY-MM-DD (local). */
  date: string;
  machine: string;
  revision: string;
}

export interface PartContext {
  workDir: string;
  pinning: Pinning;
  /** The warm bench's settings (BENCH_SECONDS, BENCH_ROUNDS, ...), reused by the load measurements. */
  bench: BenchOptions;
  parts: PartOptions;
  run: RunInfo;
  progress: (line: string) => void;
  /** Starts a bench child that run.ts stops at the end, on failure and on signals. */
  startChild: (options: BenchChildOptions) => Promise<{ child: BenchChild; ready: Record<string, unknown> }>;
  /** Processes seen under a platform: killed at the end if the platform could not stop them itself. */
  rememberProcesses: (pids: readonly number[]) => void;
}

export interface ConfiguredPlatform {
  child: BenchChild;
  client: NimbusClient;
  /** Stops the platform (it stops its instances); what was under it is remembered for the cleanup. */
  stop(): Promise<void>;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A Nimbus (bench/children/nimbus-configured.mjs) on a fresh data dir, pinned to the servers' core. */
export async function startConfiguredPlatform(
  ctx: PartContext,
  name: string,
  config: PlatformConfigInput,
  onEvent?: (event: Record<string, unknown>) => void,
): Promise<ConfiguredPlatform> {
  const dataDir = join(ctx.workDir, name);
  // Its instance sockets go under the work dir, so they go with it.
  const tmp = join(ctx.workDir, `${name}-tmp`);
  mkdirSync(tmp, { recursive: true });
  const { child, ready } = await ctx.startChild({
    name,
    script: 'nimbus-configured.mjs',
    args: [JSON.stringify({ dataDir, shutdownGraceMs: 1000, ...config })],
    core: ctx.pinning.serverCore,
    env: { TMPDIR: tmp },
    ...(onEvent ? { onEvent } : {}),
  });
  const client = new NimbusClient(String(ready.url), String(ready.token));
  return {
    child,
    client,
    async stop() {
      ctx.rememberProcesses(descendants(child.pid));
      await child.stop();
    },
  };
}

/** Writes `source` as a function folder (with `spec` as its nimbus.yml) and builds it. */
export async function buildSource(
  workDir: string,
  name: string,
  source: string,
  spec: Record<string, unknown> = {},
): Promise<BuiltFunction> {
  const dir = join(workDir, 'part-functions', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.ts'), source);
  writeFileSync(join(dir, 'nimbus.yml'), stringify(spec));
  return buildFunction(dir, { outDir: join(workDir, 'part-bundles', name) });
}

/** Uploads `built` (once per platform) and deploys it as `name` with `spec`; resolves once it serves. */
export async function deployBuilt(
  client: NimbusClient,
  built: BuiltFunction,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await client.uploadBundle(built);
  await client.deploy(name, built.hash, spec);
}

/** The hello handler the warm bench deploys, answering `hello`. */
export const HELLO_SOURCE = `export default {
  async fetch(): Promise<Response> {
    return new Response('hello');
  },
};
`;

const ZERO_POLL_MS = 10;

/** Polls the control API until `name` has no instance and none starting (as bench/cold-start.ts does). */
export async function waitForZero(client: NimbusClient, name: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fn = await client.get(name);
    if (fn.instances === 0 && fn.starting === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${name} still has ${fn.instances} instance(s) after ${timeoutMs} ms`);
    await sleep(ZERO_POLL_MS);
  }
}

/**
 * Waits until the process trees under `roots` use no CPU over a window (at most one 10 ms clock tick),
 * e.g. while a platform refills its stem cells after a start. False when still busy after `maxMs`.
 */
export async function waitQuiet(roots: readonly number[], windowMs = 100, maxMs = 3000): Promise<boolean> {
  const used = (): number =>
    roots.reduce((sum, pid) => {
      const cpu = treeCpuMs(pid);
      return sum + cpu.rootMs + cpu.childrenMs;
    }, 0);
  const deadline = performance.now() + maxMs;
  let before = used();
  while (performance.now() < deadline) {
    await sleep(windowMs);
    const after = used();
    if (after - before <= 10) return true;
    before = after;
  }
  return false;
}
