// npm dependencies at build: installed when node_modules is missing or stale (npm run for real, offline,
// from local tarballs), what esbuild can bundle bundled, what it cannot shipped in a pruned node_modules,
// and the handler found from package.json "main" or said to be missing an export.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { listBundleFiles } from '../../src/build/bundle-hash.js';
import { ensureNodeDependencies, INSTALL_STAMP } from '../../src/build/npm-install.js';
import { startTestPlatform } from '../helpers/platform.js';

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nimbus-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a package and packs it as `<out>/<name>-<version>.tgz` (installs offline as a file: dependency). */
function pack(out: string, name: string, version: string, files: Record<string, string>): string {
  const src = join(out, `src-${name}-${version}`);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'package.json'), JSON.stringify({ name, version, main: 'index.js' }));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(src, file), text);
  execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: src, stdio: 'ignore' });
  rmSync(src, { recursive: true, force: true });
  return `${name}-${version}.tgz`;
}

const PURE = { 'index.js': "module.exports = (who) => 'hello ' + who;\n" };
/** Reads a data file beside itself: cannot be bundled into one file. */
const SELF_READING = {
  'index.js':
    "const fs = require('fs');\nmodule.exports = () => fs.readFileSync(__dirname + '/data.txt', 'utf8').trim();\n",
  'data.txt': 'from a data file\n',
};
/** Looks like a native addon (it holds a prebuilt .node file) though its code is plain JS: it must ship, not bundle. */
const NATIVE_LOOKING = {
  'index.js': "module.exports = () => 'native-ish';\n",
  'prebuilt.node': 'not really a shared object',
};

function project(t: TestContext, deps: Record<string, string>, handler: string): string {
  const dir = tempDir(t, 'npm-project');
  const tarballs = {
    pure: pack(dir, 'pure', '1.0.0', PURE),
    'self-reading': pack(dir, 'self-reading', '1.0.0', SELF_READING),
    'native-looking': pack(dir, 'native-looking', '1.0.0', NATIVE_LOOKING),
  };
  const dependencies = Object.fromEntries(
    Object.keys(deps).map((name) => [name, `file:./${tarballs[name as keyof typeof tarballs]}`]),
  );
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fn', version: '1.0.0', dependencies }));
  writeFileSync(join(dir, 'index.mjs'), handler);
  return dir;
}

test('npm install: missing, current, stale by the stamp, out of sync with the lockfile, or the user own', async (t) => {
  const dir = project(t, { pure: '' }, 'export default () => new Response("x");\n');
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);

  assert.equal(await ensureNodeDependencies(dir, { log }), 'installed');
  assert.match(lines[0]!, /node_modules is missing: running npm install --omit=dev --no-audit/);
  assert.ok(existsSync(join(dir, 'node_modules/pure/index.js')));
  const stamp = JSON.parse(readFileSync(join(dir, 'node_modules', INSTALL_STAMP), 'utf8')) as {
    hash: string;
  };
  assert.match(stamp.hash, /^[0-9a-f]{64}$/);
  assert.ok(existsSync(join(dir, 'package-lock.json')), 'npm install wrote a lockfile');

  lines.length = 0;
  assert.equal(await ensureNodeDependencies(dir, { log }), 'current');
  assert.deepEqual(lines, [], 'nothing runs when node_modules is current');

  // A lockfile change (here: rewritten by the user) makes Nimbus's own install stale: npm ci from it.
  const lock = readFileSync(join(dir, 'package-lock.json'), 'utf8');
  writeFileSync(join(dir, 'package-lock.json'), `${lock}\n`);
  assert.equal(await ensureNodeDependencies(dir, { log }), 'installed');
  assert.match(lines[0]!, /package.json or the lockfile changed.*running npm ci --omit=dev/);

  // A dependency added to package.json but not to the lockfile: npm ci refuses, and says why.
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, any>;
  pkg.dependencies['self-reading'] = 'file:./self-reading-1.0.0.tgz';
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
  await assert.rejects(ensureNodeDependencies(dir, { log }), (err: { code?: string; message: string }) => {
    assert.equal(err.code, 'ERR_BUILD_NPM_FAILED');
    assert.match(err.message, new RegExp(`dependencies in ${dir}`));
    assert.match(err.message, /npm exited with code \d+[\s\S]*(sync|lock)/i);
    return true;
  });

  // node_modules the user installed (no stamp) is theirs: current while it matches, and when not, npm
  // runs without --omit=dev so their dev tools stay.
  rmSync(join(dir, 'package-lock.json'));
  rmSync(join(dir, 'node_modules'), { recursive: true });
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
  assert.ok(!existsSync(join(dir, 'node_modules', INSTALL_STAMP)));
  lines.length = 0;
  assert.equal(await ensureNodeDependencies(dir, { log }), 'current');
  rmSync(join(dir, 'node_modules/self-reading'), { recursive: true });
  assert.equal(await ensureNodeDependencies(dir, { log }), 'installed');
  assert.match(lines[0]!, /self-reading is not in node_modules: running npm ci --no-audit/);
  assert.ok(
    !existsSync(join(dir, 'node_modules', INSTALL_STAMP)),
    'no stamp in a node_modules Nimbus did not make',
  );

  rmSync(join(dir, 'node_modules'), { recursive: true });
  await assert.rejects(ensureNodeDependencies(dir, { npm: 'npm-nimbus-absent' }), {
    code: 'ERR_BUILD_NPM_FAILED',
  });
  writeFileSync(join(dir, 'package.json'), '{"dependencies": ');
  await assert.rejects(ensureNodeDependencies(dir), { code: 'ERR_BUILD_FAILED', message: /not valid JSON/ });
});

test('bundle: pure JS is bundled into one file; a native-looking or self-reading package ships beside it', async (t) => {
  const handler = `import hello from 'pure';
import native from 'native-looking';
import selfReading from 'self-reading';
export default { fetch: () => Response.json({ pure: hello('x'), native: native(), data: selfReading() }) };
`;
  const dir = project(t, { pure: '', 'self-reading': '', 'native-looking': '' }, handler);
  const lines: string[] = [];
  const built = await buildFunction(dir, { log: (l) => lines.push(l), outDir: join(tempDir(t, 'out'), 'b') });
  const files = listBundleFiles(built.bundleDir);
  assert.ok(files.includes('index.mjs'));
  assert.ok(files.includes('node_modules/self-reading/data.txt'), 'the data file ships with its package');
  assert.ok(files.includes('node_modules/native-looking/prebuilt.node'));
  assert.ok(!files.some((f) => f.startsWith('node_modules/pure/')), 'pure JS is bundled, not shipped');
  assert.ok(!files.includes('package-lock.json'), 'the lockfile does not ship');
  assert.match(lines.join('\n'), /native-looking \[ships prebuilt.node\]/);
  assert.match(lines.join('\n'), /self-reading \[reads files beside self-reading\/index.js\]/);

  const nimbus = await startTestPlatform(t);
  await nimbus.client.uploadBundle(built);
  await nimbus.client.deploy('deps', built.hash, built.spec);
  const res = await fetch(`${nimbus.url}/function/deps`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { pure: 'hello x', native: 'native-ish', data: 'from a data file' });
});

test('bundle: a function without dependencies stays one file; package.json main names the handler', async (t) => {
  const dir = tempDir(t, 'main');
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', main: 'lib/entry.js' }));
  writeFileSync(
    join(dir, 'lib/entry.js'),
    "exports.handler = async () => ({ statusCode: 200, body: 'from main' });\n",
  );
  writeFileSync(
    join(dir, 'index.js'),
    "exports.handler = async () => ({ statusCode: 200, body: 'from index' });\n",
  );
  const built = await buildFunction(dir, { outDir: join(tempDir(t, 'out'), 'b') });
  assert.deepEqual(listBundleFiles(built.bundleDir), ['index.js', 'index.mjs', 'package.json']);
  assert.match(readFileSync(join(built.bundleDir, 'index.mjs'), 'utf8'), /from main/);
  assert.doesNotMatch(readFileSync(join(built.bundleDir, 'index.mjs'), 'utf8'), /from index/);

  const plain = tempDir(t, 'plain');
  writeFileSync(join(plain, 'index.ts'), 'export default () => new Response("hi");\n');
  writeFileSync(join(plain, 'nimbus.yml'), 'timeoutMs: 1000\n');
  const single = await buildFunction(plain, { outDir: join(tempDir(t, 'out'), 'b') });
  assert.deepEqual(listBundleFiles(single.bundleDir), ['index.mjs'], 'a small function is one file');
});

test('bundle: a module with named exports but no handler says which handler: file.export to set', async (t) => {
  const dir = tempDir(t, 'exports');
  writeFileSync(join(dir, 'app.mjs'), 'export const hello = async () => "hi";\nexport const world = 1;\n');
  writeFileSync(join(dir, 'nimbus.yml'), 'handler: app.mjs\n');
  await assert.rejects(buildFunction(dir), (err: { code?: string; message: string }) => {
    assert.equal(err.code, 'ERR_BUILD_HANDLER_EXPORT');
    assert.match(
      err.message,
      /app\.mjs exports hello, world but has no export "handler" and no default export/,
    );
    assert.match(err.message, /set "handler: app\.hello"/);
    return true;
  });
  writeFileSync(join(dir, 'nimbus.yml'), 'handler: app.nope\n');
  await assert.rejects(buildFunction(dir), {
    code: 'ERR_BUILD_HANDLER_EXPORT',
    message: /has no export "nope"/,
  });
  writeFileSync(join(dir, 'nimbus.yml'), 'handler: app.hello\n');
  const built = await buildFunction(dir, { outDir: join(tempDir(t, 'out'), 'b') });
  assert.ok(existsSync(join(built.bundleDir, 'index.mjs')));

  // CommonJS shows esbuild only a default export: the runner says it when it loads the module.
  const cjs = tempDir(t, 'cjs');
  writeFileSync(join(cjs, 'index.js'), 'exports.hello = async () => "hi";\nexports.version = 2;\n');
  const nimbus = await startTestPlatform(t);
  await assert.rejects(nimbus.deploy(cjs, 'cjs'), (err: { code?: string; message: string }) => {
    assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
    assert.match(
      err.message,
      /the module exports "hello" but no "handler" and no default: set "handler: FILE\.hello" in nimbus\.yml/,
    );
    return true;
  });
  await nimbus.deploy(cjs, 'cjs', { handler: 'index.hello' });
  assert.equal(
    await (await fetch(`${nimbus.url}/function/cjs`)).text(),
    '"hi"',
    'a string result is JSON, as on Lambda',
  );

  const missing = tempDir(t, 'missing');
  writeFileSync(join(missing, 'index.js'), "import x from 'not-installed';\nexport default x;\n");
  await assert.rejects(buildFunction(missing), {
    code: 'ERR_BUILD_FAILED',
    message: /Could not resolve "not-installed" \(add "not-installed" to package.json's dependencies/,
  });
});
