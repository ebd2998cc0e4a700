// workerd (Cloudflare's runtime, the binary the miniflare npm package runs) for the bench's peer row:
// installed on demand from the npm registry into a cache directory, never a dependency of `npm ci`.
// BENCH_WORKERD=0 leaves it out; BENCH_CACHE_DIR moves the cache (default ~/.cache/nimbus-bench).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The version measured (the `workerd` package miniflare depends on, pinned). */
export const WORKERD_VERSION = '1.20261117.1';
const PLATFORM_PACKAGE = '@cloudflare/workerd-linux-64';

/** The workerd binary, installing it first when it is not in the cache; or why there is none. */
export function workerdBinary(
  env: Readonly<Record<string, string | undefined>>,
  progress: (line: string) => void,
): { path: string } | { skipped: string } {
  if (env.BENCH_WORKERD === '0') return { skipped: 'BENCH_WORKERD=0' };
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return { skipped: `no workerd build is pinned for ${process.platform}-${process.arch}` };
  const dir = join(
    env.BENCH_CACHE_DIR ?? join(homedir(), '.cache', 'nimbus-bench'),
    `workerd-${WORKERD_VERSION}`,
  );
  const binary = join(dir, 'node_modules', ...PLATFORM_PACKAGE.split('/'), 'bin', 'workerd');
  if (!existsSync(binary)) {
    progress(`installing workerd ${WORKERD_VERSION} into ${dir} (once; BENCH_WORKERD=0 skips it)`);
    mkdirSync(dir, { recursive: true });
    const npm = spawnSync(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        '--no-save',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        `${PLATFORM_PACKAGE}@${WORKERD_VERSION}`,
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    if (npm.status !== 0 || !existsSync(binary))
      return {
        skipped: `could not install workerd: ${(npm.stderr || npm.error?.message || '').trim().slice(-300)}`,
      };
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0)
    return { skipped: `workerd does not run here: ${version.stderr.trim().slice(-200)}` };
  return { path: binary };
}
