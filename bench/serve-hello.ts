// `node --import tsx bench/serve-hello.ts`: the built Nimbus with the bench's hello deployed, for looking at
// it from outside (strace, perf, a load generator of your own). Prints the function's URL, runs until
// SIGINT/SIGTERM, then stops the platform and removes its data. SANDBOX=off runs the instance unsandboxed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NimbusClient } from '../src/cli/client.js';
import { deployBenchFunction } from './functions.js';

// The built platform, as `nimbus up` runs it (typed by its source).
const built = (path: string): string => new URL(`../dist/${path}`, import.meta.url).href;
const { loadPlatformConfig } = (await import(
  built('config/platform.js')
)) as typeof import('../src/config/platform.js');
const { startPlatform } = (await import(built('platform.js'))) as typeof import('../src/platform.js');
const work = mkdtempSync(join(tmpdir(), 'nimbus-serve-'));
const platform = await startPlatform(
  loadPlatformConfig({
    port: 0,
    dataDir: join(work, 'data'),
    shutdownGraceMs: 1_000,
    ...(process.env.SANDBOX === 'off' ? { sandbox: 'off' as const } : {}),
  }),
  { output() {}, event() {} },
);
const client = new NimbusClient(platform.url, platform.token);
await deployBenchFunction(client, work, 'hello');
process.stdout.write(`${platform.url}/function/hello pid ${process.pid}\n`);
const stop = async (): Promise<void> => {
  await platform.close();
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
