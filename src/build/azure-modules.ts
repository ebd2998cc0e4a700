// The npm packages an Azure Functions app needs at run time, copied into its bundle as they are installed:
// package.json's dependencies and optionalDependencies and, in turn, theirs, each resolved as Node resolves
// it from the package that needs it (so packages an npm workspace hoisted above the app come along). The app
// loads them from the bundle's node_modules: nothing is bundled, `@azure/functions` stays the app's own.
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { NimbusError } from '../errors.js';

interface PackageJson {
  name?: unknown;
  version?: unknown;
  dependencies?: Record<string, unknown>;
  optionalDependencies?: Record<string, unknown>;
  peerDependencies?: Record<string, unknown>;
}

export function readPackage(dir: string): PackageJson {
  try {
    const value = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as PackageJson) : {};
  } catch (err) {
    throw new NimbusError('ERR_AZURE_APP_INVALID', [
      `${join(dir, 'package.json')} does not parse: ${(err as Error).message}`,
    ]);
  }
}

/** Where `name` is installed for code in `from` (a real path), walking up node_modules folders as Node does. */
export function resolvePackage(name: string, from: string): { dir: string; real: string } | undefined {
  for (let d = from; ; d = dirname(d)) {
    if (basename(d) !== 'node_modules') {
      const candidate = join(d, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json')))
        return { dir: candidate, real: realpathSync(candidate) };
    }
    if (dirname(d) === d) return undefined;
  }
}

function names(deps: Record<string, unknown> | undefined): string[] {
  return deps && typeof deps === 'object' ? Object.keys(deps) : [];
}

/**
 * Copies the run-time packages of the app in `appDir` into `outDir/node_modules`; returns how many. A
 * required package that is not installed is an error that says to run npm install.
 */
export function copyProductionModules(appDir: string, outDir: string): number {
  const root = realpathSync(appDir);
  const ancestors: string[] = [];
  for (let d = root; ; d = dirname(d)) {
    ancestors.push(d);
    if (dirname(d) === d) break;
  }
  /** Bundle path (`node_modules/a/node_modules/b`) → the real folder placed there. */
  const placed = new Map<string, string>();
  const seen = new Set<string>();
  const pkg = readPackage(root);
  const pending: { name: string; from: string; optional: boolean; by: string }[] = [
    ...names(pkg.dependencies).map((name) => ({ name, from: root, optional: false, by: 'package.json' })),
    ...names(pkg.optionalDependencies).map((name) => ({
      name,
      from: root,
      optional: true,
      by: 'package.json',
    })),
  ];
  while (pending.length > 0) {
    const { name, from, optional, by } = pending.pop()!;
    const found = resolvePackage(name, from);
    if (!found) {
      if (optional) continue;
      throw new NimbusError('ERR_AZURE_APP_INVALID', [
        `package "${name}" (needed by ${by}) is not installed: run \`npm install\` in ${appDir}`,
      ]);
    }
    if (seen.has(found.real)) continue;
    seen.add(found.real);
    const at = bundlePath(found.dir, ancestors, name);
    const other = placed.get(at);
    if (other !== undefined && other !== found.real)
      throw new NimbusError('ERR_AZURE_APP_INVALID', [
        `two different copies of "${name}" (${other} and ${found.real}) would share ${at}; run \`npm install\` in ${appDir} so the app has its own`,
      ]);
    placed.set(at, found.real);
    const own = readPackage(found.real);
    for (const dep of names(own.dependencies))
      pending.push({ name: dep, from: found.real, optional: false, by: name });
    for (const dep of [...names(own.optionalDependencies), ...names(own.peerDependencies)])
      pending.push({ name: dep, from: found.real, optional: true, by: name });
  }
  // A package copied whole brings the packages nested in its own node_modules.
  const paths = [...placed.keys()].sort((a, b) => a.length - b.length);
  const copied: string[] = [];
  for (const at of paths) {
    if (copied.some((c) => at.startsWith(`${c}/`))) continue;
    mkdirSync(dirname(join(outDir, at)), { recursive: true });
    cpSync(placed.get(at)!, join(outDir, at), { recursive: true, dereference: true });
    copied.push(at);
  }
  return placed.size;
}

/** A package's place in the bundle: its path below the deepest folder that holds the app, else top level. */
function bundlePath(dir: string, ancestors: readonly string[], name: string): string {
  for (const base of ancestors) {
    if (
      dir.startsWith(`${base}${sep}node_modules${sep}`) ||
      (base === sep && dir.startsWith(`${sep}node_modules${sep}`))
    )
      return relative(base, dir).split(sep).join('/');
  }
  return `node_modules/${name}`;
}
