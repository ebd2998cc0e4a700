// Builds dist/: transpiles src/ file by file, and bundles each language runner into one file so an
// instance loads a single module at start (cold start is a module load, not a module graph walk), and the
// dashboard (src/ui/app, browser code) into dist/ui/public.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
/** The dashboard's sources: bundled for the browser below, not transpiled for Node. */
const UI_APP = join(root, 'src/ui/app');

function tsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (path === UI_APP) return [];
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

// The dashboard: one script and one stylesheet named by their content hash (cached for ever), and the page
// that loads them (revalidated on every load). Served by src/ui/routes.ts; nothing is fetched from elsewhere.
const uiOut = join(root, 'dist/ui/public');
rmSync(uiOut, { recursive: true, force: true });
const ui = await build({
  entryPoints: { app: join(UI_APP, 'main.tsx') },
  outdir: uiOut,
  entryNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(ui.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.endsWith('.js'));
const style = outputs.find((name) => name.endsWith('.css'));
writeFileSync(
  join(uiOut, 'index.html'),
  readFileSync(join(UI_APP, 'index.html'), 'utf8').replace('{{script}}', script).replace('{{style}}', style),
);
copyFileSync(join(UI_APP, 'icon.svg'), join(uiOut, 'icon.svg'));
