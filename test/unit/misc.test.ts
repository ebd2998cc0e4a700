// Small pure parts: bundle hashing, output line capture, config layering.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashBundleDir } from '../../src/build/bundle-hash.js';
import { configFromEnv, loadPlatformConfig } from '../../src/config/platform.js';
import { LineCapture } from '../../src/instances/line-capture.js';

test('bundle hashes depend on paths, contents and exec bits only', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'nimbus-hash-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const make = (name: string) => {
    const dir = join(root, name);
    mkdirSync(join(dir, 'lib'), { recursive: true });
    writeFileSync(join(dir, 'index.mjs'), 'a');
    writeFileSync(join(dir, 'lib', 'x.js'), 'b');
    return dir;
  };
  const a = make('a');
  const b = make('b');
  assert.equal(await hashBundleDir(a), await hashBundleDir(b));
  writeFileSync(join(b, 'lib', 'x.js'), 'c');
  assert.notEqual(await hashBundleDir(a), await hashBundleDir(b));
  writeFileSync(join(b, 'lib', 'x.js'), 'b');
  chmodSync(join(b, 'index.mjs'), 0o755);
  assert.notEqual(await hashBundleDir(a), await hashBundleDir(b));
});

test('line capture splits lines and bounds their length', () => {
  const lines: string[] = [];
  const c = new LineCapture((l) => lines.push(l), 10);
  c.push(Buffer.from('one\ntw'));
  c.push(Buffer.from('o\n'));
  c.push(Buffer.from('x'.repeat(25)));
  c.end();
  assert.deepEqual(lines, ['one', 'two', 'x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
});

test('config layers: defaults < file < env < flags; unknown keys named', () => {
  const config = loadPlatformConfig(
    { port: 1, host: '0.0.0.0' },
    configFromEnv({ NIMBUS_PORT: '2', NIMBUS_DEBUG: '1' }),
    { port: 3 },
  );
  assert.equal(config.port, 3);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.debug, true);
  assert.equal(config.bodyLimitBytes, 6 * 1024 * 1024);
  assert.ok(Object.isFrozen(config));
  assert.throws(() => loadPlatformConfig({ prot: 1 } as never), /unknown key "prot"/);
});
