// Builds dist/: transpiles src/ file by file, and bundles each language runner into one file so an
// instance loads a single module at start (cold start is a module load, not a module graph walk).
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;

function tsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

// dist/ is overwritten in place, not deleted: a running `nimbus up` keeps starting instances from it.
await build({
  entryPoints: tsFiles(join(root, 'src')),
  outdir: join(root, 'dist'),
  outbase: join(root, 'src'),
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
});
for (const runner of ['node', 'adapter']) {
  await build({
    entryPoints: [join(root, `src/runtimes/${runner}/runner.ts`)],
    outfile: join(root, `dist/runtimes/${runner}/runner.bundle.mjs`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
  });
}
// The Azure Functions style: the node runner imports it only for Azure apps, so every other function's
// runner stays a small module.
await build({
  entryPoints: [join(root, 'src/runtimes/azure/azure-style.ts')],
  outfile: join(root, 'dist/runtimes/node/azure-style.bundle.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
});
// Runners in other languages are used as they are.
mkdirSync(join(root, 'dist/runtimes/python'), { recursive: true });
for (const file of ['runner.py', 'openwhisk_style.py'])
  copyFileSync(join(root, `src/runtimes/python/${file}`), join(root, `dist/runtimes/python/${file}`));
