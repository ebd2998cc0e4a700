// Builds dist/: transpiles src/ file by file, and bundles each language runner into one file so an
// instance loads a single module at start (cold start is a module load, not a module graph walk), and the
// dashboard (src/ui/app, browser code) into dist/ui/public.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
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

// Packages functions import without shipping them (src/runtimes/node/provided-packages.ts lists the same):
// each bundled into one ES module, so an instance loads one file, not the hundreds of the SDK's packages.
// Rebuilt only when the installed version changes.
const PROVIDED_PACKAGES = ['@aws-sdk/client-lambda'];
const require = createRequire(join(root, 'package.json'));
for (const name of PROVIDED_PACKAGES) {
  const installed = packageJsonOf(name);
  const outDir = join(root, 'dist/runtimes/node/provided/node_modules', name);
  const manifest = join(outDir, 'package.json');
  if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === installed.version)
    continue;
  await build({
    entryPoints: [name],
    absWorkingDir: root,
    outfile: join(outDir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // The ES build of each package (dist-es), so the bundle has real named exports.
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire as __nimbusCreateRequire } from 'node:module'; const require = __nimbusCreateRequire(import.meta.url);",
    },
    legalComments: 'none',
    logLevel: 'warning',
  });
  const pkg = { name, version: installed.version, type: 'module', exports: { '.': './index.mjs' } };
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
}

function packageJsonOf(name) {
  // The package's entry resolves even where its exports hide package.json; its manifest is above it.
  let dir = dirname(require.resolve(name));
  while (
    !existsSync(join(dir, 'package.json')) ||
    JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name
  )
    dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
}
