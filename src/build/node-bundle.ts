// The bundle of a Node function: esbuild bundles the handler and every dependency it can into one ESM file
// (one module to load: a cold start stays a single file read); dependencies that cannot be bundled (see
// node-modules.ts) stay external and ship, pruned to what they need, in node_modules beside it. The
// folder's other files (data the code reads) are copied too.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Message, Metafile } from 'esbuild';
import { NimbusError } from '../errors.js';
import { PROVIDED_PACKAGES, providedExternals } from '../runtimes/node/provided-packages.js';
import { copyPackages, PackageGraph, type PackageNode, readsOwnFiles } from './node-modules.js';
import { LOCKFILES, readPackageJson } from './npm-install.js';

export const BUNDLE_ENTRY = 'index.mjs';
/** Never copied into a bundle: the spec travels on its own, the rest is tooling and local state. */
export const SKIPPED_NAMES = new Set([
  'nimbus.yml',
  'nimbus.yaml',
  '.git',
  '.nimbus',
  '.aws-sam',
  '.serverless',
  '.venv',
  '__pycache__',
  '.DS_Store',
]);
const MAX_PASSES = 5;
const DEPENDENCY = 'a dependency of a shipped package';

export interface NodeBundleResult {
  /** Packages the bundle imports from node_modules, with why each one could not be bundled. */
  shipped: { name: string; reason: string }[];
  /** How many packages ship in node_modules in all (those and what they depend on). */
  shippedCount: number;
  /** The entry module's export names (ESM; a CommonJS module shows only `default`). */
  exports: string[];
}

/**
 * Bundles `entry` (a file inside `dir`) into `<outDir>/index.mjs` and ships what cannot be bundled.
 * Throws ERR_BUILD_FAILED with esbuild's messages.
 */
export async function bundleNode(dir: string, entry: string, outDir: string): Promise<NodeBundleResult> {
  const { build } = await import('esbuild');
  const graph = new PackageGraph(dir, readPackageJson(dir));
  const entryDir = relative(dir, dirname(entry)).split(sep).join('/');
  const entryFile = relative(dir, entry).split(sep).join('/');
  let external = externalsOf(graph);
  for (let pass = 1; ; pass++) {
    let result: Awaited<ReturnType<typeof build>> & { metafile: Metafile };
    try {
      result = await build({
        entryPoints: [entry],
        absWorkingDir: dir,
        outfile: join(outDir, BUNDLE_ENTRY),
        write: false,
        metafile: true,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        logLevel: 'silent',
        // What cannot be bundled, and the AWS SDK packages Nimbus provides unless the function installed them.
        external: [...[...external].flatMap((name) => [name, `${name}/*`]), ...providedExternals(dir)],
        // CommonJS dependencies call require(); the handler's own __dirname and __filename are those
        // of its entry file as the bundle lays it out (the folder's files are copied beside it).
        banner: {
          js: [
            "import { createRequire as __nimbusCreateRequire } from 'node:module';",
            "import { fileURLToPath as __nimbusFileURLToPath } from 'node:url';",
            'const require = __nimbusCreateRequire(import.meta.url);',
            `const __nimbus_dirname = __nimbusFileURLToPath(new URL(${JSON.stringify(entryDir ? `./${entryDir}/` : './')}, import.meta.url)).replace(/\\/$/, '');`,
            `const __nimbus_filename = __nimbusFileURLToPath(new URL(${JSON.stringify(`./${entryFile}`)}, import.meta.url));`,
          ].join(' '),
        },
        define: { __dirname: '__nimbus_dirname', __filename: '__nimbus_filename' },
        legalComments: 'none',
      });
    } catch (err) {
      throw new NimbusError('ERR_BUILD_FAILED', [esbuildMessages(err)], { cause: err });
    }
    const found = unbundleableInputs(dir, graph, result.metafile, result.warnings);
    if (found === 0 || pass === MAX_PASSES) {
      const output = result.outputFiles?.find((f) => basename(f.path) === BUNDLE_ENTRY);
      if (!output) throw new NimbusError('ERR_BUILD_FAILED', ['esbuild wrote no output']);
      mkdirSync(outDir, { recursive: true });
      copyAssets(dir, outDir, result.metafile);
      writeFileSync(join(outDir, BUNDLE_ENTRY), output.contents);
      const ship = shippedPackages(graph, result.metafile);
      copyPackages(ship.keys(), outDir);
      const meta = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined);
      return {
        shipped: [...ship]
          .filter(([, reason]) => reason !== DEPENDENCY)
          .map(([node, reason]) => ({ name: node.name, reason })),
        shippedCount: ship.size,
        exports: meta?.exports ?? [],
      };
    }
    external = externalsOf(graph);
  }
}

/** Names of the packages to keep external: the unbundleable ones and every package that depends on one. */
function externalsOf(graph: PackageGraph): Set<string> {
  const unbundleable = graph.nodes.filter((n) => n.unbundleable !== undefined);
  return new Set([...graph.dependents(unbundleable)].map((n) => n.name));
}

/**
 * Marks the packages whose bundled files read files relative to themselves, or that esbuild warned it
 * could not follow (a computed require). Returns how many were newly marked.
 */
function unbundleableInputs(dir: string, graph: PackageGraph, meta: Metafile, warnings: Message[]): number {
  let marked = 0;
  const mark = (file: string, reason: string): void => {
    const node = graph.packageOf(resolve(dir, file));
    if (!node || node.unbundleable !== undefined) return;
    node.unbundleable = reason;
    marked++;
  };
  for (const input of Object.keys(meta.inputs)) {
    if (!input.split('/').includes('node_modules')) continue;
    if (readsOwnFiles(resolve(dir, input)))
      mark(input, `reads files beside ${input.slice(input.lastIndexOf('node_modules/') + 13)}`);
  }
  for (const warning of warnings) {
    const file = warning.location?.file;
    if (file?.split('/').includes('node_modules')) mark(file, `esbuild cannot follow: ${warning.text}`);
  }
  return marked;
}

/**
 * What node_modules must hold for the bundle: every package it imports by name (resolved from the bundle's
 * root, as Node will), with their dependencies. Each maps to the reason it is there.
 */
function shippedPackages(graph: PackageGraph, meta: Metafile): Map<PackageNode, string> {
  const direct = new Map<PackageNode, string>();
  for (const output of Object.values(meta.outputs)) {
    for (const imported of output.imports) {
      if (!imported.external || isBuiltin(imported.path) || imported.path.startsWith('.')) continue;
      const name = packageName(imported.path);
      const node = graph.resolveFromRoot(name);
      // An import nothing installed (an optional peer inside a try): Node answers it at run time.
      if (!node) continue;
      const needs = [...graph.closure([node])].find((n) => n.unbundleable !== undefined);
      direct.set(node, node.unbundleable ?? `needs ${needs?.name ?? 'a package that cannot be bundled'}`);
    }
  }
  const out = new Map<PackageNode, string>(direct);
  for (const node of graph.closure(direct.keys())) if (!out.has(node)) out.set(node, DEPENDENCY);
  return out;
}

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
function packageName(path: string): string {
  const parts = path.split('/');
  return parts[0]!.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * The folder's other files (data the code reads, package.json) beside the bundle: not what esbuild
 * bundled, node_modules (pruned separately), lockfiles or tooling state.
 */
function copyAssets(dir: string, outDir: string, meta: Metafile): void {
  const bundled = new Set(
    Object.keys(meta.inputs)
      .filter((input) => !input.includes(':'))
      .map((input) => resolve(dir, input)),
  );
  cpSync(dir, outDir, {
    recursive: true,
    dereference: true,
    filter: (source) => {
      if (source === dir) return true;
      const name = basename(source);
      if (SKIPPED_NAMES.has(name) || name === 'node_modules') return false;
      if (dirname(source) === dir && (LOCKFILES as readonly string[]).includes(name)) return false;
      return !bundled.has(source);
    },
  });
}

function esbuildMessages(err: unknown): string {
  const errors = (err as { errors?: Message[] }).errors;
  if (!errors?.length) return (err as Error).message;
  return errors
    .map((e) => {
      const where = e.location ? `${e.location.file}:${e.location.line}: ` : '';
      const hint = /Could not resolve "([^"]+)"/.exec(e.text);
      const name = hint ? packageName(hint[1]!) : '';
      const provided = name.startsWith('@aws-sdk/')
        ? `; Nimbus provides ${PROVIDED_PACKAGES.join(', ')} only`
        : '';
      const fix = hint
        ? ` (add "${name}" to package.json's dependencies: nimbus deploy installs them${provided})`
        : '';
      return `${where}${e.text}${fix}`;
    })
    .join('; ');
}
