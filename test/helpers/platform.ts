// Test helper: starts a real Nimbus (gateway on 127.0.0.1 port 0, SQLite in a temp dir) and tears it down.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { type FunctionView, NimbusClient } from '../../src/cli/client.js';
import { loadPlatformConfig, type PlatformConfigInput } from '../../src/config/platform.js';
import { type Platform, type PlatformLog, type StartOptions, startPlatform } from '../../src/platform.js';

export const FIXTURES = new URL('../fixtures/functions/', import.meta.url).pathname;

export interface TestPlatform {
  platform: Platform;
  client: NimbusClient;
  url: string;
  dataDir: string;
  lines: string[];
  /** Every platform event (instance-exit, instance-oom, sandbox, …). */
  events: { type: string; [key: string]: unknown }[];
  /** Builds a fixture folder (or any folder), uploads and deploys it under `name`. */
  deploy(fixture: string, name?: string, spec?: Record<string, unknown>): Promise<FunctionView>;
}

/**
 * Starts a platform with `sandbox: 'off'` unless `config` says otherwise: most tests tell instances apart
 * by the pid a function reports, or hand it host paths, which a sandbox's own pid namespace and
 * filesystem hide. Tests of isolation (test/security/) pass `sandbox: 'auto'`.
 */
export async function startTestPlatform(
  t: TestContext,
  config: PlatformConfigInput = {},
  options: StartOptions = {},
): Promise<TestPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-test-'));
  const lines: string[] = [];
  const events: TestPlatform['events'] = [];
  const log: PlatformLog = {
    output: (_fn, _id, line) => lines.push(line),
    event: (event) => events.push(event as TestPlatform['events'][number]),
  };
  let platform: Platform;
  try {
    platform = await startPlatform(
      loadPlatformConfig({ port: 0, dataDir, shutdownGraceMs: 2000, sandbox: 'off', ...config }),
      log,
      options,
    );
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  t.after(async () => {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const client = new NimbusClient(platform.url, platform.token);
  return {
    platform,
    client,
    url: platform.url,
    dataDir,
    lines,
    events,
    async deploy(fixture, name, spec) {
      const dir = fixture.startsWith('/') ? fixture : join(FIXTURES, fixture);
      const built = await buildFunction(dir);
      try {
        await client.uploadBundle(built);
        return await client.deploy(name ?? built.name, built.hash, { ...built.spec, ...spec });
      } finally {
        rmSync(built.bundleDir, { recursive: true, force: true });
      }
    },
  };
}

/** PIDs of this process's children running the Nimbus node runner. */
export function runnerChildren(parentPid = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parentPid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('runner.bundle.mjs'))
        pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The least a wait lasts before it fails, whatever a test asks: a test waits on an event, and a busy machine
 * (a CPU hog on both cores, other suites beside it) may take many times longer to get there than a quiet one.
 */
export const MIN_WAIT_MS = 20_000;

/** Polls `check` until it returns a truthy value or `timeoutMs` (at least MIN_WAIT_MS) passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const waitMs = Math.max(timeoutMs, MIN_WAIT_MS);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, undefined | null | false | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out after ${waitMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
