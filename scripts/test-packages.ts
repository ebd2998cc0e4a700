// Test-only packages that compile native code (aws-lambda-ric builds curl and a C++ client: minutes) stay
// out of the root `npm ci`, so the README's first command does not pay for them. test/packages/ pins them
// (its package.json and lockfile); they are installed once, on first use, into the git-ignored
// .cache/test-packages/<lockfile hash>/ (which `npm ci` does not wipe) and reused until the lockfile changes.
// `node --import tsx scripts/test-packages.ts` installs them ahead (scripts/test.mjs does when a test
// file it runs needs them); a test that needs one calls testPackageDir(name).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const MANIFEST_DIR = join(root, 'test', 'packages');
const CACHE_DIR = join(root, '.cache', 'test-packages');
/** Another process installing the same packages is waited for this long before its lock counts as stale. */
const LOCK_WAIT_MS = 15 * 60_000;

/** The pinned test packages: name → version, from test/packages/package.json. */
export function testPackages(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(MANIFEST_DIR, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return { ...pkg.dependencies };
}

/** Where this lockfile's packages are (or will be) installed: one folder per lockfile content. */
export function testPackagesHome(): string {
  const lock = readFileSync(join(MANIFEST_DIR, 'package-lock.json'));
  return join(CACHE_DIR, createHash('sha256').update(lock).digest('hex').slice(0, 16));
}

/**
 * The folder of test package `name` (its package.json inside), installing them all on first use. Throws
 * with npm's output when they cannot be installed (no registry, no compiler).
 */
export function testPackageDir(name: string): string {
  if (!(name in testPackages())) throw new Error(`${name} is not in test/packages/package.json`);
  return join(installTestPackages(), 'node_modules', name);
}

/** Installs test/packages/ with `npm ci` unless this lockfile's install is already there; returns its folder. */
export function installTestPackages(): string {
  const home = testPackagesHome();
  const done = join(home, '.installed');
  if (existsSync(done)) return home;
  mkdirSync(CACHE_DIR, { recursive: true });
  withLock(`${home}.lock`, () => {
    if (existsSync(done)) return;
    rmSync(home, { recursive: true, force: true });
    mkdirSync(home, { recursive: true });
    for (const file of ['package.json', 'package-lock.json'])
      copyFileSync(join(MANIFEST_DIR, file), join(home, file));
    const names = Object.entries(testPackages())
      .map(([n, v]) => `${n}@${v}`)
      .join(', ');
    process.stderr.write(`installing the test packages (${names}) into ${home}, once…\n`);
    const started = Date.now();
    const npm = spawnSync(
      'npm',
      ['ci', '--no-audit', '--no-fund', '--no-progress', '--prefer-offline', '--loglevel=error'],
      // node-gyp compiles with every core (JOBS); the build's own output is kept for a failure's message.
      { cwd: home, encoding: 'utf8', env: { ...process.env, JOBS: process.env.JOBS ?? 'max' } },
    );
    if (npm.status !== 0) {
      const output = `${npm.stdout ?? ''}${npm.stderr ?? ''}`.split('\n').slice(-40).join('\n');
      rmSync(home, { recursive: true, force: true });
      throw new Error(
        `installing the test packages (${names}) failed (${npm.error?.message ?? `npm ci exited ${npm.status}`}); ` +
          `they need the npm registry and a C/C++ toolchain (cmake, g++, make, python3):\n${output}`,
      );
    }
    const seconds = Math.round((Date.now() - started) / 1000);
    writeFileSync(done, `${JSON.stringify({ packages: testPackages(), seconds })}\n`);
    process.stderr.write(`installed the test packages in ${seconds} s\n`);
  });
  return home;
}

/** Runs `work` holding a lock directory (mkdir is atomic), so parallel test files install once. */
function withLock(lock: string, work: () => void): void {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() > deadline || !holderAlive(lock)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Whether the process that took the lock still runs (a lock just taken may not have its pid yet). */
function holderAlive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    return true;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.stdout.write(`${installTestPackages()}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
