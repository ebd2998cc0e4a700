// Test helpers for the runtimes: fixture copies in temp dirs, instance processes of any runner, and
// hand-made Python wheels (so pip installs without a network).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { FIXTURES, type TestPlatform, waitFor } from './platform.js';

/** Copies a fixture folder to a fresh temp dir (removed after the test) and returns its path. */
export function copyFixture(t: TestContext, fixture: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nimbus-fixture-${fixture}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  return dir;
}

/** PIDs of this process's children running a Nimbus runner (node, adapter or python). */
export function instanceProcesses(parentPid = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parentPid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('runner.bundle.mjs') || cmdline.includes('runner.py')) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/**
 * Writes `<dir>/<name>-1.0-py3-none-any.whl` holding module `<name>` with `source` (and console scripts,
 * `{command: 'module:function'}`, which pip installs into bin/); returns its file name.
 */
export function makeWheel(
  dir: string,
  name: string,
  source: string,
  consoleScripts: Record<string, string> = {},
): string {
  mkdirSync(dir, { recursive: true });
  const file = `${name}-1.0-py3-none-any.whl`;
  const script = `
import base64, hashlib, sys, zipfile
out, name, source, scripts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
files = {
    name + "/__init__.py": source,
    name + "-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: " + name + "\\nVersion: 1.0\\n",
    name + "-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: nimbus-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
if scripts:
    files[name + "-1.0.dist-info/entry_points.txt"] = "[console_scripts]\\n" + scripts
record = []
with zipfile.ZipFile(out, "w") as z:
    for path, text in files.items():
        data = text.encode()
        z.writestr(path, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    record.append(name + "-1.0.dist-info/RECORD,,")
    z.writestr(name + "-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
`;
  const scripts = Object.entries(consoleScripts)
    .map(([command, target]) => `${command} = ${target}\n`)
    .join('');
  execFileSync('python3', ['-c', script, join(dir, file), name, source, scripts]);
  return file;
}

/** Times `fn`, in ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** Running instances of a function, as the control API reports them. */
export async function instanceCount(nimbus: TestPlatform, name: string): Promise<number> {
  return (await nimbus.client.get(name)).instances;
}

/** Waits until a function has no running instance (a stopped one has fully exited). */
export async function waitForNoInstance(
  nimbus: TestPlatform,
  name: string,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    async () => (await instanceCount(nimbus, name)) === 0,
    timeoutMs,
    `${name} to have no instance`,
  );
}
