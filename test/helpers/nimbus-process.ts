// Test helper: runs the real `nimbus up` as a child process (its own data dir, port 0) and stops it by its
// PID when the test ends; for tests whose question is whether the process itself survives.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { NimbusClient } from '../../src/cli/client.js';
import { FIXTURES, waitFor } from './platform.js';

export const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;

export interface NimbusProcess {
  child: ChildProcess;
  url: string;
  token: string;
  dataDir: string;
  client: NimbusClient;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /** The process is still running. */
  alive(): boolean;
}

export async function startNimbusProcess(
  t: TestContext,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<NimbusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-proc-'));
  const dataDir = join(dir, 'data');
  const child = spawn(process.execPath, [BIN, 'up', '--port', '0', '--data', dataDir, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (c: Buffer) => {
    out += c.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`nimbus up exited (${child.exitCode}): ${out}`);
      return /Nimbus listening on (http:\/\/\S+)/.exec(out)?.[1];
    },
    30_000,
    'nimbus up to listen',
  );
  await waitFor(() => /nimbus: ready/.test(out), 30_000, 'nimbus up to be ready');
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    child,
    url,
    token,
    dataDir,
    client: new NimbusClient(url, token),
    output: () => out,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

/** Builds a fixture folder (under test/fixtures/functions unless absolute) and deploys it to a running Nimbus. */
export async function deployTo(
  client: NimbusClient,
  fixture: string,
  name: string,
  spec: Record<string, unknown> = {},
): Promise<void> {
  const dir = fixture.startsWith('/') ? fixture : join(FIXTURES, fixture);
  const built = await buildFunction(dir);
  try {
    await client.uploadBundle(built);
    await client.deploy(name, built.hash, { ...built.spec, ...spec });
  } finally {
    rmSync(built.bundleDir, { recursive: true, force: true });
  }
}
