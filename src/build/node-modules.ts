// The npm packages a function needs at run time, as a graph resolved the way Node resolves them, and which of
// them cannot be bundled into one file: native addons (a `.node` binary, a node-gyp build, a loader such
// as node-gyp-build), packages that read their own files (`__dirname`, `import.meta.url`) or require by a
// computed name. Those, with what they depend on, ship as a pruned node_modules beside the bundle.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { type PackageJson, productionDependencies, readPackageJson } from './npm-install.js';

/** Dependencies that only native addons have: their loaders and build helpers. */
const NATIVE_MARKERS = new Set([
  'bindings',
  'node-gyp-build',
  'node-gyp-build-optional-packages',
  'prebuild-install',
  'node-pre-gyp',
  '@mapbox/node-pre-gyp',
  'node-addon-api',
  'nan',
]);
/** Build intermediates of a node-gyp build: never loaded at run time. */
const PRUNED_BUILD_DIRS = new Set(['obj.target', '.deps', 'obj']);
/** Source that finds files relative to itself, or computes what it requires. */
const SELF_RELATIVE_RE = /\b__dirname\b|\b__filename\b|\bimport\.meta\.url\b|\brequire\.resolve\b/;
const MAX_FILES_SCANNED = 50_000;

export interface PackageNode {
  name: string;
  /** Where it is installed (absolute). */
  dir: string;
  /** Where it goes in the bundle: `node_modules/<name>` or nested below another package. */
  bundlePath: string;
  /** Directories of the packages it depends on (that are installed). */
  deps: string[];
  /** Why it cannot be bundled, when it cannot. */
  unbundleable?: string;
}

/** The run-time package graph of a function folder. */
export class PackageGraph {
  readonly #root: string;
  readonly #nodes = new Map<string, PackageNode>();
  readonly #seeds: string[] = [];

  constructor(root: string, pkg: PackageJson | undefined) {
    this.#root = root;
    const seeds = pkg
      ? [...productionDependencies(pkg).required, ...productionDependencies(pkg).optional]
      : topLevelPackages(join(root, 'node_modules'));
    for (const name of seeds) {
      const found = this.#resolve(name, root);
      if (found) this.#seeds.push(this.#add(found.dir, found.bundlePath, name).dir);
    }
  }

  /** The packages the function's package.json names (the roots of the graph). */
  get seeds(): PackageNode[] {
    return this.#seeds.map((d) => this.#nodes.get(d)!);
  }

  get nodes(): PackageNode[] {
    return [...this.#nodes.values()];
  }

  /** The package `name` as code at the function folder's root finds it, added to the graph if new. */
  resolveFromRoot(name: string): PackageNode | undefined {
    const found = this.#resolve(name, this.#root);
    return found ? this.#add(found.dir, found.bundlePath, name) : undefined;
  }

  /** The package a file belongs to (by its path below some node_modules), added to the graph if new. */
  packageOf(file: string): PackageNode | undefined {
    const parts = file.split(sep);
    const at = parts.lastIndexOf('node_modules');
    if (at < 0 || at + 1 >= parts.length) return undefined;
    const scoped = parts[at + 1]!.startsWith('@');
    const end = at + (scoped ? 3 : 2);
    if (end > parts.length) return undefined;
    const dir = parts.slice(0, end).join(sep);
    const known = this.#nodes.get(dir);
    if (known) return known;
    if (!existsSync(join(dir, 'package.json'))) return undefined;
    return this.#add(dir, this.#bundlePathOf(dir), parts.slice(at + 1, end).join('/'));
  }

  /** `node` and every package it depends on, transitively. */
  closure(nodes: Iterable<PackageNode>): Set<PackageNode> {
    const out = new Set<PackageNode>();
    const stack = [...nodes];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (out.has(node)) continue;
      out.add(node);
      for (const dep of node.deps) stack.push(this.#nodes.get(dep)!);
    }
    return out;
  }

  /** Every package that depends on one of `nodes`, transitively, and `nodes` themselves. */
  dependents(nodes: Iterable<PackageNode>): Set<PackageNode> {
    const out = new Set<PackageNode>(nodes);
    let grew = true;
    while (grew) {
      grew = false;
      for (const node of this.#nodes.values()) {
        if (out.has(node)) continue;
        if (node.deps.some((d) => out.has(this.#nodes.get(d)!))) {
          out.add(node);
          grew = true;
        }
      }
    }
    return out;
  }

  #add(dir: string, bundlePath: string, name: string): PackageNode {
    const known = this.#nodes.get(dir);
    if (known) return known;
    const node: PackageNode = { name, dir, bundlePath, deps: [] };
    this.#nodes.set(dir, node);
    let pkg: PackageJson = {};
    try {
      pkg = readPackageJson(dir) ?? {};
    } catch {}
    const { required, optional } = productionDependencies(pkg);
    const peers = pkg.peerDependencies ? Object.keys(pkg.peerDependencies) : [];
    const native = nativeReason(dir, pkg, [...required, ...optional]);
    if (native) node.unbundleable = native;
    for (const dep of [...required, ...optional, ...peers]) {
      const found = this.#resolve(dep, dir);
      // An optional dependency for another platform, or a peer the function does not use, is not installed.
      if (!found) continue;
      node.deps.push(this.#add(found.dir, found.bundlePath, dep).dir);
    }
    return node;
  }

  /** Node's lookup: `<dir>/node_modules/<name>`, then each parent's, up to the filesystem root. */
  #resolve(name: string, from: string): { dir: string; bundlePath: string } | undefined {
    for (let dir = from; ; dir = dirname(dir)) {
      if (dir.split(sep).at(-1) !== 'node_modules') {
        const candidate = join(dir, 'node_modules', name);
        if (existsSync(join(candidate, 'package.json')))
          return { dir: candidate, bundlePath: this.#bundlePathOf(candidate) };
      }
      if (dirname(dir) === dir) return undefined;
    }
  }

  /** Below the function folder: the same relative path. Above it (a monorepo's hoisted packages): top level. */
  #bundlePathOf(dir: string): string {
    const rel = relative(this.#root, dir);
    if (!rel.startsWith('..')) return rel.split(sep).join('/');
    const parts = dir.split(sep);
    const at = parts.indexOf('node_modules');
    return parts.slice(at).join('/');
  }
}

function topLevelPackages(modules: string): string[] {
  if (!existsSync(modules)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const sub of readdirSync(join(modules, entry))) out.push(`${entry}/${sub}`);
    } else out.push(entry);
  }
  return out;
}

/** Why a package is a native addon (or ships WebAssembly it loads from disk), or undefined. */
function nativeReason(
  dir: string,
  pkg: PackageJson & { gypfile?: unknown },
  deps: string[],
): string | undefined {
  if (existsSync(join(dir, 'binding.gyp')) || pkg.gypfile === true) return 'native addon, binding.gyp';
  const loader = deps.find((d) => NATIVE_MARKERS.has(d));
  if (loader) return `native addon, uses ${loader}`;
  const binary = findFile(dir, (name) => name.endsWith('.node') || name.endsWith('.wasm'));
  if (binary) return `ships ${relative(dir, binary)}`;
  return undefined;
}

/** The first file below `dir` (not inside nested node_modules) whose name passes `test`. */
function findFile(dir: string, test: (name: string) => boolean): string | undefined {
  const stack = [dir];
  let seen = 0;
  while (stack.length > 0) {
    const current = stack.pop()!;
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (++seen > MAX_FILES_SCANNED) return undefined;
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') stack.push(path);
      } else if (test(entry.name)) return path;
    }
  }
  return undefined;
}

/** True when a bundled source file finds files relative to itself (then its package cannot be bundled). */
export function readsOwnFiles(file: string): boolean {
  try {
    if (statSync(file).size > 8 * 1024 * 1024) return false;
    return SELF_RELATIVE_RE.test(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Copies `packages` into `<outDir>/<bundlePath>`: the package's own files (links followed), without nested
 * node_modules (the nested packages needed are in `packages` themselves), `.bin` links or build
 * intermediates.
 */
export function copyPackages(packages: Iterable<PackageNode>, outDir: string): void {
  for (const node of packages) {
    const to = join(outDir, ...node.bundlePath.split('/'));
    if (existsSync(to)) continue;
    mkdirSync(dirname(to), { recursive: true });
    cpSync(node.dir, to, {
      recursive: true,
      dereference: true,
      filter: (source) => {
        if (source === node.dir) return true;
        const rel = relative(node.dir, source).split(sep);
        const name = rel.at(-1)!;
        if (name === 'node_modules' || name === '.bin') return false;
        // build/Release/obj.target, build/Release/.deps: the compiler's objects beside the addon.
        if (rel.length >= 3 && rel[0] === 'build' && PRUNED_BUILD_DIRS.has(name)) return false;
        return true;
      },
    });
  }
}
