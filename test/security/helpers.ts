// Security test helpers: a sandboxed platform serving a hello function beside the hostile ones, and a
// view of the host's processes by a marker in their command line (read from /proc; nothing is traced).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { PlatformConfigInput } from '../../src/config/platform.js';
import { detectSandbox } from '../../src/sandbox/detect.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

export const features = await detectSandbox();

const BIN = fileURLToPath(new URL('../../bin/nimbus.js', import.meta.url));

/** Why the security tests cannot run here, or null: without bubblewrap there is no sandbox to test. */
export const noSandbox: string | null = features.bwrap
  ? null
  : `no working bubblewrap, so no sandbox to attack: ${features.bwrapProblem}`;

const has = (controller: 'memory' | 'pids' | 'cpu'): boolean =>
  features.cgroup.version !== null && features.cgroup.controllers.includes(controller);

/** Why a limit that needs a cgroup controller cannot be tested here, or null. */
export function noController(controller: 'memory' | 'pids' | 'cpu'): string | null {
  if (noSandbox) return noSandbox;
  if (has(controller)) return null;
  const why = features.cgroup.version === null ? features.cgroup.reason : 'not delegated';
  return `no ${controller} cgroup controller here (${why})`;
}

export interface SecurePlatform extends TestPlatform {
  /** Asserts that the platform still serves another function. */
  assertServing(): Promise<void>;
}

/** A platform with the sandbox on (as `nimbus up` runs by default) and a hello function deployed. */
export async function startSecurePlatform(
  t: TestContext,
  config: PlatformConfigInput = {},
): Promise<SecurePlatform> {
  // Instances start slowly on a busy machine (several sandboxes starting at once on two shared cores):
  // a generous start deadline, so what is tested is isolation, not how quiet the machine is.
  const nimbus = await startTestPlatform(t, { sandbox: 'required', startTimeoutMs: 60_000, ...config });
  await nimbus.deploy('hello');
  return {
    ...nimbus,
    async assertServing() {
      const res = await fetch(`${nimbus.url}/function/hello`, { method: 'POST', body: 'still here' });
      assert.equal(res.status, 200, 'the platform keeps serving other functions');
      assert.equal(await res.text(), 'hello still here');
    },
  };
}

/** An access key of scope admin made with the CLI, as AWS credentials (for the Lambda API). */
export function adminKey(
  url: string,
  token: string,
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, 'keys', 'create', '--scope', 'admin', '--json', '--url', url, '--token', token],
      { env: { PATH: process.env.PATH }, timeout: 30_000 },
      (err, stdout) => {
        if (err) return reject(err);
        const key = JSON.parse(stdout) as { id: string; secret: string };
        resolve({ accessKeyId: key.id, secretAccessKey: key.secret });
      },
    );
  });
}

/** A marker unique to this test run, for the command lines of the processes a function starts. */
export function newMarker(what: string): string {
  return `nimbus-sec-${what}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Host pids whose command line holds `marker`. */
export function markerProcesses(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/** Kills whatever a failed test left behind with `marker` (never a process without it). */
export function killMarked(marker: string): void {
  for (const pid of markerProcesses(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

/** The JSON answer of a function, asserting its status. */
export async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, text.slice(0, 500));
  return JSON.parse(text) as T;
}
