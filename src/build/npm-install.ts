// `nimbus deploy` installs a function's npm dependencies itself when package.json declares some and
// node_modules is missing or stale, as faas-cli's templates and `sam build` do: `npm ci --omit=dev` from a
// lockfile, `npm install --omit=dev` without one. A stamp in node_modules says which inputs it was built from.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../errors.js';

/** Written into node_modules after Nimbus installed it: the hash of what it was installed from. */
export const INSTALL_STAMP = '.nimbus-install.json';
export const LOCKFILES = ['npm-shrinkwrap.json', 'package-lock.json'] as const;
const NPM_TIMEOUT_MS = 15 * 60_000;
const NPM_OUTPUT_LINES = 25;

export interface NpmInstallOptions {
  /** Progress lines (the command run, npm's own output). Default: none. */
  log?: (line: string) => void;
  /** The npm command. Default `npm` on the builder's PATH. */
  npm?: string;
  /** npm's environment. Default: this process's (so `npm_config_cache` and the registry settings apply). */
  env?: NodeJS.ProcessEnv;
}

export interface PackageJson {
  name?: unknown;
  main?: unknown;
  type?: unknown;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  overrides?: unknown;
}

/** package.json of a folder, or undefined when it has none; a file that is not JSON is a build error. */
export function readPackageJson(dir: string): PackageJson | undefined {
  const path = join(dir, 'package.json');
  if (!existsSync(path)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NimbusError('ERR_BUILD_FAILED', [`${path} is not valid JSON: ${(err as Error).message}`]);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new NimbusError('ERR_BUILD_FAILED', [`${path} must hold a JSON object`]);
  return value as PackageJson;
}

function names(deps: unknown): string[] {
  return deps !== null && typeof deps === 'object' && !Array.isArray(deps) ? Object.keys(deps) : [];
}

/** The dependencies a function needs at run time: `dependencies` and `optionalDependencies`. */
export function productionDependencies(pkg: PackageJson): { required: string[]; optional: string[] } {
  const optional = names(pkg.optionalDependencies);
  return { required: names(pkg.dependencies).filter((n) => !optional.includes(n)), optional };
}

function lockfileOf(dir: string): string | undefined {
  return LOCKFILES.map((f) => join(dir, f)).find((p) => existsSync(p));
}

/**
 * What node_modules must have been installed from to be current: the dependency fields of package.json,
 * the lockfile's bytes, and the platform and Node ABI (native addons are built for one of each).
 */
export function installInputsHash(dir: string, pkg: PackageJson): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify([
      pkg.dependencies ?? {},
      pkg.optionalDependencies ?? {},
      pkg.peerDependencies ?? {},
      pkg.devDependencies ?? {},
      pkg.overrides ?? {},
    ]),
  );
  const lock = lockfileOf(dir);
  hash.update(lock ? readFileSync(lock) : '-');
  hash.update(`${process.platform}-${process.arch}-${process.versions.modules}`);
  return hash.digest('hex');
}

/** Why node_modules must be (re)installed, or undefined when it is current. */
export function staleReason(dir: string, pkg: PackageJson): string | undefined {
  const modules = join(dir, 'node_modules');
  if (!existsSync(modules)) return 'node_modules is missing';
  const stampPath = join(modules, INSTALL_STAMP);
  if (existsSync(stampPath)) {
    let stamp: { hash?: unknown } = {};
    try {
      stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { hash?: unknown };
    } catch {}
    return stamp.hash === installInputsHash(dir, pkg)
      ? undefined
      : 'package.json or the lockfile changed since Nimbus installed node_modules';
  }
  // node_modules installed by the user: current when every declared dependency is there, at the
  // lockfile's version where there is a lockfile.
  const lock = lockfileOf(dir);
  let locked: Record<string, { version?: unknown }> = {};
  if (lock) {
    try {
      locked =
        (JSON.parse(readFileSync(lock, 'utf8')) as { packages?: Record<string, { version?: unknown }> })
          .packages ?? {};
    } catch {}
  }
  for (const name of productionDependencies(pkg).required) {
    const installed = join(modules, name, 'package.json');
    if (!existsSync(installed)) return `${name} is not in node_modules`;
    const want = locked[`node_modules/${name}`]?.version;
    if (typeof want !== 'string') continue;
    let have: unknown;
    try {
      have = (JSON.parse(readFileSync(installed, 'utf8')) as { version?: unknown }).version;
    } catch {}
    if (have !== want) return `node_modules has ${name}@${String(have)}, the lockfile ${want}`;
  }
  return undefined;
}

/**
 * Installs the production dependencies of `dir` when package.json declares some and node_modules is
 * missing or stale. Returns what it did.
 */
export async function ensureNodeDependencies(
  dir: string,
  options: NpmInstallOptions = {},
): Promise<'none' | 'current' | 'installed'> {
  const pkg = readPackageJson(dir);
  if (!pkg) return 'none';
  const { required, optional } = productionDependencies(pkg);
  if (required.length + optional.length === 0) return 'none';
  const reason = staleReason(dir, pkg);
  if (reason === undefined) return 'current';
  const lock = lockfileOf(dir);
  const ownInstall =
    !existsSync(join(dir, 'node_modules')) || existsSync(join(dir, 'node_modules', INSTALL_STAMP));
  // A node_modules the user installed keeps its dev dependencies (their tests and tools); only what
  // the function needs at run time goes into the bundle either way.
  const args = [
    lock ? 'ci' : 'install',
    ...(ownInstall ? ['--omit=dev'] : []),
    '--no-audit',
    '--no-fund',
    '--no-progress',
  ];
  const npm = options.npm ?? 'npm';
  const log = options.log ?? (() => {});
  log(`${reason}: running ${npm} ${args.join(' ')} in ${dir}`);
  await runNpm(npm, args, dir, options.env ?? process.env, log);
  if (ownInstall)
    writeFileSync(
      join(dir, 'node_modules', INSTALL_STAMP),
      `${JSON.stringify({ hash: installInputsHash(dir, pkg), command: `npm ${args.join(' ')}` })}\n`,
    );
  return 'installed';
}

async function runNpm(
  npm: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<void> {
  const tail: string[] = [];
  // npm's first error lines say what failed (then come usage text or a compiler's output).
  const errors: string[] = [];
  const { code, signal, error } = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    error?: Error;
  }>((resolve) => {
    // Its own process group: a timeout stops npm and the compilers it started (node-gyp, make, g++).
    const child = spawn(npm, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, NPM_TIMEOUT_MS);
    let partial = '';
    const onData = (chunk: Buffer): void => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) emit(line);
    };
    const emit = (line: string): void => {
      const text = line.trimEnd();
      if (!text) return;
      log(`  ${text}`);
      tail.push(text);
      if (tail.length > NPM_OUTPUT_LINES) tail.shift();
      if (/^npm (error|ERR!)/.test(text) && errors.length < NPM_OUTPUT_LINES) errors.push(text);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, error: err });
    });
    child.on('close', (exit, sig) => {
      clearTimeout(timer);
      emit(partial);
      resolve({ code: exit, signal: sig });
    });
  });
  if (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new NimbusError('ERR_BUILD_NPM_FAILED', [
      cwd,
      missing ? `${npm} was not found on this machine's PATH` : `could not run ${npm}: ${error.message}`,
    ]);
  }
  if (code !== 0) {
    const why = signal ? `npm was killed by ${signal}` : `npm exited with code ${code}`;
    const lines = errors.length > 0 ? errors : tail;
    throw new NimbusError('ERR_BUILD_NPM_FAILED', [cwd, `${why}\n${lines.join('\n')}`.trim()]);
  }
}
