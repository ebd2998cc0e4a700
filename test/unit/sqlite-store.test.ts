// The function store on a real SQLite file: versions, and each version's spec parsed once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

test('a version keeps one parsed, frozen spec; a new version or a delete replaces it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-store-'));
  const store = new SqliteStore(join(dir, 'nimbus.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const put = (timeoutMs: number) =>
    store.putVersion(
      { name: 'f', bundle: 'a'.repeat(64), entry: 'index.mjs', spec: parseFunctionSpec({ timeoutMs }) },
      Date.now(),
    );
  put(1000);
  const first = store.getFunction('f')!;
  assert.equal(first.version, 1);
  assert.equal(first.spec.timeoutMs, 1000);
  assert.equal(store.listFunctions()[0]!.spec, first.spec, 'parsed once, shared');
  assert.ok(Object.isFrozen(first.spec) && Object.isFrozen(first.spec.scale), 'shared, so frozen');
  put(2000);
  const second = store.getFunction('f')!;
  assert.equal(second.version, 2);
  assert.equal(second.spec.timeoutMs, 2000);
  assert.equal(store.deleteFunction('f'), true);
  assert.equal(store.getFunction('f'), undefined);
  put(3000);
  assert.equal(store.getFunction('f')!.spec.timeoutMs, 3000, 'a function made again under the name');
});
