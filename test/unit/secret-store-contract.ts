// The SecretStore contract: one suite every implementation (SQLite on one node, JetStream KV in a cluster)
// passes. A backend gives `open()`: a SecretStore over the same storage, as another process (or node) sees it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { deriveKey, Sealer } from '../../src/auth/master-key.js';
import { SECRET_VALUE_LIMIT_BYTES, type SecretStore } from '../../src/store/secret-store.js';

export interface SecretStoreBackend {
  /** A SecretStore over the shared storage, sealing with `sealer` (default: the backend's own); closed after the test. */
  open(sealer?: Sealer): Promise<SecretStore>;
  /** Every byte the storage holds at rest (files, stream blocks). */
  raw(): Promise<Buffer>;
}

type After = { after: (fn: () => Promise<void> | void) => void };

export const CONTRACT_SECRET_SEALER = new Sealer(deriveKey(Buffer.alloc(32, 5), 'secrets'));

export function secretStoreContract(
  name: string,
  setUp: (t: After) => Promise<SecretStoreBackend>,
  options: { skip?: string | false } = {},
): void {
  const it = (title: string, fn: (backend: SecretStoreBackend) => Promise<void>) =>
    test(`${name}: ${title}`, { skip: options.skip ?? false }, async (t) => fn(await setUp(t)));

  it('create, update, list, values, remove; per namespace', async (b) => {
    const store = await b.open();
    const created = store.create('default', 'api-key', Buffer.from('s3cr3t'), 1000);
    assert.deepEqual(created, { namespace: 'default', name: 'api-key', createdAt: 1000, updatedAt: 1000 });
    store.create('default', 'cert.pem', Buffer.from([0, 1, 2, 255]), 1001);
    store.create('team-a', 'api-key', Buffer.from('team-a value'), 1002);
    await store.sync();
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
    assert.throws(() => store.update('default', 'missing', Buffer.from('x')), {
      code: 'ERR_SECRET_NOT_FOUND',
    });
    assert.throws(() => store.values('default', ['api-key', 'missing']), { code: 'ERR_SECRET_NOT_FOUND' });
    assert.throws(() => store.assertExist('default', ['api-key', 'gone']), /secret "gone" does not exist/);
    assert.equal(store.remove('default', 'api-key'), true);
    assert.equal(store.remove('default', 'api-key'), false);
    assert.equal(store.has('default', 'api-key'), false);
    assert.equal(store.has('team-a', 'api-key'), true);
    store.removeNamespace('team-a');
    assert.deepEqual(store.list('team-a'), []);
    await store.sync();
  });

  it('names must be file names; values are bounded; errors never carry a value', async (b) => {
    const store = await b.open();
    for (const bad of ['', '.hidden', '..', 'a/b', 'a\0b', '-x', 'x'.repeat(254), 'a b']) {
      assert.throws(
        () => store.create('default', bad, Buffer.from('value-not-in-errors')),
        (err: Error & { code?: string }) =>
          err.code === 'ERR_SECRET_INVALID' && !err.message.includes('value-not-in-errors'),
        JSON.stringify(bad),
      );
    }
    // Dots anywhere but first, a name at the limit, a value at the limit.
    store.create('default', 'A_b.c-1', Buffer.alloc(SECRET_VALUE_LIMIT_BYTES));
    store.create('default', 'a..b.', Buffer.from('dots'));
    store.create('default', 'x'.repeat(253), Buffer.from('long'));
    assert.throws(() => store.create('default', 'big', Buffer.alloc(SECRET_VALUE_LIMIT_BYTES + 1)), {
      code: 'ERR_SECRET_INVALID',
    });
    await store.sync();
    const again = await b.open();
    assert.equal(again.values('default', ['A_b.c-1']).get('A_b.c-1')!.length, SECRET_VALUE_LIMIT_BYTES);
    assert.equal(again.values('default', ['a..b.']).get('a..b.')!.toString(), 'dots');
    assert.equal(again.has('default', 'x'.repeat(253)), true);
    for (const hostile of ['__proto__', 'constructor', 'toString'])
      assert.equal(again.has('default', hostile), false);
  });

  it('secrets are stored: a store opened afterwards holds them; one with another master key opens none', async (b) => {
    const writer = await b.open();
    const plain = `plain-${randomBytes(8).toString('hex')}`;
    writer.create('default', 'one', Buffer.from(plain), 5);
    writer.create('team-a', 'one', Buffer.from('team-a'), 6);
    writer.create('team-a', 'gone', Buffer.from('x'), 7);
    await writer.sync();
    writer.remove('team-a', 'gone');
    await writer.sync();
    const reader = await b.open();
    assert.deepEqual(reader.list('team-a'), [
      { namespace: 'team-a', name: 'one', createdAt: 6, updatedAt: 6 },
    ]);
    assert.equal(reader.values('default', ['one']).get('one')!.toString(), plain);
    const other = await b.open(new Sealer(deriveKey(randomBytes(32), 'secrets')));
    assert.equal(other.has('default', 'one'), true, 'names are not sealed');
    assert.throws(
      () => other.values('default', ['one']),
      (err: Error & { code?: string }) => err.code === 'ERR_INTERNAL' && !err.message.includes(plain),
    );
  });

  it('at rest the storage holds no value', async (b) => {
    const store = await b.open();
    const plain = `plain-${randomBytes(12).toString('hex')}`;
    store.create('default', 'one', Buffer.from(plain));
    await store.sync();
    const raw = await b.raw();
    assert.ok(raw.includes('one'), 'the backend shows its storage');
    assert.equal(raw.includes(plain), false);
    assert.equal(raw.includes(Buffer.from(plain).toString('base64')), false);
  });
}
