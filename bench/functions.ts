// The functions the bench deploys: one hello handler under three specs, written to a temp folder,
// built and deployed through the same client the CLI uses.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildFunction } from '../src/build/build.js';
import type { NimbusClient } from '../src/cli/client.js';
import type { FunctionSpecInput } from '../src/config/function-spec.js';

/** A handler that holds every call for a minute: async enqueues only fill its queue. */
const PARKED_SOURCE = `export default {
  async fetch(): Promise<Response> {
    await new Promise((r) => setTimeout(r, 60_000));
    return new Response('late');
  },
};
`;

/** The hello handler (the bare server in children/bare-server.mjs answers the same). */
const HELLO_SOURCE = `export default {
  async fetch(): Promise<Response> {
    return new Response('hello');
  },
};
`;

/** Idle timeout of the cold-start function: retired soon after each request, so every request is cold. */
export const COLD_IDLE_TIMEOUT_MS = 100;

export const BENCH_FUNCTIONS = {
  /** One warm instance serving every request in flight: the design the targets are about. */
  hello: { concurrency: 64, scale: { min: 1, max: 1 } },
  /** The spec defaults (concurrency by handler style, up to 10 instances): what a user gets unconfigured. */
  'hello-defaults': {},
  /** Scales to zero after every request. */
  cold: { scale: { min: 0, idleTimeoutMs: COLD_IDLE_TIMEOUT_MS } },
  /** Its one worker holds one call: durable enqueues only fill the queue (caps raised for the load). */
  parked: {
    timeoutMs: 120_000,
    async: { concurrency: 1, maxQueued: 10_000_000, maxQueuedBytes: 16 * 1024 ** 3 },
  },
} as const satisfies Record<string, FunctionSpecInput>;

export type BenchFunction = keyof typeof BENCH_FUNCTIONS;

/** Writes, builds and deploys one bench function; resolves once a version of it serves. */
export async function deployBenchFunction(
  client: NimbusClient,
  workDir: string,
  name: BenchFunction,
): Promise<void> {
  const dir = join(workDir, 'functions', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.ts'), name === 'parked' ? PARKED_SOURCE : HELLO_SOURCE);
  writeFileSync(join(dir, 'nimbus.yml'), stringify(BENCH_FUNCTIONS[name]));
  const built = await buildFunction(dir, { outDir: join(workDir, 'bundles', name) });
  await client.uploadBundle(built);
  await client.deploy(built.name, built.hash, built.spec);
}
