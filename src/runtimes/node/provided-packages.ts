// Packages every Node function can import without shipping them, as Lambda's Node runtimes provide the AWS
// SDK v3: the build leaves them external when the function has not installed them, and instances resolve
// them from a node_modules Nimbus ships (each package one ESM file, built by `npm run build`) that sits
// where Node's resolution looks after the function's own: at /node_modules in the sandbox (an ancestor of
// /fn), and without one as `<dataDir>/node_modules` and `<runDir>/node_modules` (links; ancestors of the
// bundles loaded in place and of those staged for a runAs user).
import { existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The provided packages. `@aws-sdk/client-lambda` is the client of the one AWS API Nimbus serves: with the
 * function's own key and AWS_ENDPOINT_URL_LAMBDA it calls other functions. scripts/build.mjs lists the same.
 */
export const PROVIDED_PACKAGES: readonly string[] = ['@aws-sdk/client-lambda'];

/** Where `npm run build` puts them (the same path from src/ under tsx and from dist/). */
export const PROVIDED_NODE_MODULES = fileURLToPath(
  new URL('../../../dist/runtimes/node/provided/node_modules', import.meta.url),
);

/** Where a sandbox sees them: the parent of /fn, so a function's own node_modules comes first. */
export const SANDBOX_PROVIDED_DIR = '/node_modules';

/** The provided packages a function folder has not installed (for the build to leave external). */
export function providedExternals(dir: string): string[] {
  return PROVIDED_PACKAGES.filter((name) => !installedFrom(dir, name));
}

/** Whether `name` resolves from `dir` the way esbuild and Node look: node_modules of dir and every ancestor. */
function installedFrom(dir: string, name: string): boolean {
  const { root } = parse(dir);
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, 'node_modules', name, 'package.json'))) return true;
    if (at === root) return false;
  }
}

/**
 * Makes `<dir>/node_modules` a link to the provided packages, so functions whose code lies below `dir`
 * resolve them without a sandbox. A directory someone put there is left alone.
 */
export function linkProvidedPackages(dir: string, target = PROVIDED_NODE_MODULES): void {
  const link = join(dir, 'node_modules');
  let current: string | undefined;
  try {
    const stat = lstatSync(link);
    if (!stat.isSymbolicLink()) return;
    current = readlinkSync(link);
  } catch {}
  if (current === target) return;
  if (current !== undefined) rmSync(link, { force: true });
  mkdirSync(dir, { recursive: true });
  symlinkSync(target, link, 'dir');
}
