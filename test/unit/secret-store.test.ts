// The secrets store: values sealed at rest (AES-256-GCM, bound to their name and to the master key),
// names checked, values only ever handed out for an instance's files.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { deriveKey, Sealer } from '../../src/auth/master-key.js';
import { SECRET_VALUE_LIMIT_BYTES, SecretStore } from '../../src/store/secret-store.js';

function open(t: { after(fn: () => void): void }, master = randomBytes(32)) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-secrets-'));
  const file = join(dir, 'nimbus.db');
  const store = new SecretStore(file, new Sealer(deriveKey(master, 'secrets')));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, file, master };
}

test('create, update, list, values, remove; per namespace', (t) => {
  const { store } = open(t);
  const created = store.create('default', 'api-key', Buffer.from('s3cr3t'), 1000);
  assert.deepEqual(created, { namespace: 'default', name: 'api-key', createdAt: 1000, updatedAt: 1000 });
  store.create('default', 'cert.pem', Buffer.from([0, 1, 2, 255]), 1001);
  store.create('team-a', 'api-key', Buffer.from('team-a value'), 1002);
  assert.deepEqual(
    store.list('default').map((s) => s.name),
    ['api-key', 'cert.pem'],
  );
  assert.deepEqual(
    store.list('team-a').map((s) => s.name),
    ['api-key'],
  );
  assert.deepEqual(store.values('default', ['cert.pem']).get('cert.pem'), Buffer.from([0, 1, 2, 255]));
  assert.equal(store.values('team-a', ['api-key']).get('api-key')!.toString(), 'team-a value');
  assert.throws(() => store.values('team-a', ['cert.pem']), { code: 'ERR_SECRET_NOT_FOUND' });
  const updated = store.update('default', 'api-key', Buffer.from('rotated'), 2000);
  assert.deepEqual(updated, { namespace: 'default', name: 'api-key', createdAt: 1000, updatedAt: 2000 });
  assert.equal(store.values('default', ['api-key']).get('api-key')!.toString(), 'rotated');
  assert.throws(() => store.create('default', 'api-key', Buffer.from('x')), { code: 'ERR_SECRET_EXISTS' });
  assert.throws(() => store.update('default', 'missing', Buffer.from('x')), { code: 'ERR_SECRET_NOT_FOUND' });
  assert.throws(() => store.values('default', ['api-key', 'missing']), { code: 'ERR_SECRET_NOT_FOUND' });
  assert.throws(() => store.assertExist('default', ['api-key', 'gone']), /secret "gone" does not exist/);
  assert.equal(store.remove('default', 'api-key'), true);
  assert.equal(store.remove('default', 'api-key'), false);
  assert.equal(store.has('default', 'api-key'), false);
  assert.equal(store.has('team-a', 'api-key'), true);
  store.removeNamespace('team-a');
  assert.deepEqual(store.list('team-a'), []);
});

test('names must be file names; values are bounded; errors never carry a value', (t) => {
  const { store } = open(t);
  for (const name of ['', '.hidden', '..', 'a/b', 'a\0b', '-x', 'x'.repeat(254), 'a b']) {
    assert.throws(
      () => store.create('default', name, Buffer.from('value-not-in-errors')),
      (err: any) => err.code === 'ERR_SECRET_INVALID' && !err.message.includes('value-not-in-errors'),
      JSON.stringify(name),
    );
  }
  store.create('default', 'A_b.c-1', Buffer.alloc(SECRET_VALUE_LIMIT_BYTES));
  assert.throws(() => store.create('default', 'big', Buffer.alloc(SECRET_VALUE_LIMIT_BYTES + 1)), {
    code: 'ERR_SECRET_INVALID',
  });
});

test('values are sealed at rest, bound to their name and to the master key', (t) => {
  const { store, file, master } = open(t);
  const plain = `plain-${randomBytes(8).toString('hex')}`;
  store.create('default', 'one', Buffer.from(plain));
  store.create('default', 'two', Buffer.from('other'));
  store.create('team-a', 'one', Buffer.from('team-a'));
  store.close();
  // Neither the database nor its WAL holds the value.
  for (const f of [file, `${file}-wal`]) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(f);
    } catch {
      continue;
    }
    assert.equal(bytes.includes(Buffer.from(plain)), false, f);
  }
  // A sealed value copied to another row (another name, or the same name in another namespace) does not open there.
  const db = new Database(file);
  const sealed = db
    .prepare("SELECT value_sealed FROM secrets WHERE namespace = 'default' AND name = 'one'")
    .pluck()
    .get();
  db.prepare("UPDATE secrets SET value_sealed = ? WHERE name = 'two' OR namespace = 'team-a'").run(sealed);
  db.close();
  const again = new SecretStore(file, new Sealer(deriveKey(master, 'secrets')));
  t.after(() => again.close());
  assert.equal(again.values('default', ['one']).get('one')!.toString(), plain);
  assert.throws(() => again.values('default', ['two']), { code: 'ERR_INTERNAL' });
  assert.throws(() => again.values('team-a', ['one']), { code: 'ERR_INTERNAL' });
  // Another master key opens nothing.
  const other = new SecretStore(file, new Sealer(deriveKey(randomBytes(32), 'secrets')));
  t.after(() => other.close());
  assert.throws(
    () => other.values('default', ['one']),
    (err: any) => err.code === 'ERR_INTERNAL' && !err.message.includes(plain),
  );
});
