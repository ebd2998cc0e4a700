// The KeyStore contract: one suite every implementation (SQLite on one node, JetStream KV in a cluster)
// passes. A backend gives `open()`: a KeyStore over the same storage, as another process (or node) sees it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashSecret, KEY_ID_RE, KEY_SECRET_PREFIX, type KeyStore } from '../../src/auth/keys.js';
import { Sealer } from '../../src/auth/master-key.js';

export interface KeyStoreBackend {
  /** A KeyStore over the shared storage, sealing with `sealer` (default: the backend's own); closed after the test. */
  open(sealer?: Sealer): Promise<KeyStore>;
  /** Every byte the storage holds at rest (files, stream blocks). */
  raw(): Promise<Buffer>;
}

type After = { after: (fn: () => Promise<void> | void) => void };

export const CONTRACT_SEALER = new Sealer(Buffer.alloc(32, 3));

export function keyStoreContract(
  name: string,
  setUp: (t: After) => Promise<KeyStoreBackend>,
  options: { skip?: string | false } = {},
): void {
  const it = (title: string, fn: (backend: KeyStoreBackend) => Promise<void>) =>
    test(`${name}: ${title}`, { skip: options.skip ?? false }, async (t) => fn(await setUp(t)));

  it('a new key authenticates as bearer, as id:secret and opens its secret for SigV4', async (b) => {
    const keys = await b.open();
    const key = keys.create(
      { scope: 'deploy', namespace: 'team-a', functions: ['api'], description: 'ci' },
      1_000,
    );
    await keys.sync();
    assert.match(key.id, KEY_ID_RE);
    assert.ok(key.secret.startsWith(KEY_SECRET_PREFIX));
    const view = {
      id: key.id,
      scope: 'deploy',
      namespace: 'team-a',
      functions: ['api'],
      createdAt: 1_000,
      description: 'ci',
    };
    assert.deepEqual(keys.get(key.id), view);
    assert.deepEqual(keys.bySecret(key.secret), view);
    assert.deepEqual(keys.verify(key.id, key.secret), view);
    assert.equal(keys.secret(key.id), key.secret);
    assert.equal(keys.bySecret(`${key.secret}x`), undefined);
    assert.equal(keys.verify(key.id, `${key.secret}x`), undefined);
    // Defaults: namespace `default`, every function.
    const plain = keys.create({ scope: 'read' });
    assert.equal(keys.get(plain.id)?.namespace, 'default');
    assert.equal(keys.get(plain.id)?.functions, '*');
    // One key's secret is not another's.
    assert.equal(keys.verify(plain.id, key.secret), undefined);
    assert.notEqual(plain.secret, key.secret);
    assert.notEqual(plain.id, key.id);
    await keys.sync();
  });

  it('keys are stored: a store opened afterwards holds them, their secrets included', async (b) => {
    const writer = await b.open();
    const made = [
      writer.create({ scope: 'admin', namespace: '*' }, 1),
      writer.create({ scope: 'invoke', functions: ['a', 'b'] }, 2),
      writer.create({ scope: 'invoke', owner: 'fn:worker' }, 3),
    ];
    await writer.sync();
    const reader = await b.open();
    for (const key of made) {
      const { secret, ...view } = key;
      assert.deepEqual(reader.get(key.id), view);
      assert.deepEqual(reader.bySecret(secret), view);
      assert.equal(reader.secret(key.id), secret);
    }
  });

  it('remove revokes at once; a store opened afterwards never has it; removing twice is false', async (b) => {
    const keys = await b.open();
    const key = keys.create({ scope: 'invoke' });
    const kept = keys.create({ scope: 'read' });
    await keys.sync();
    assert.equal(keys.remove(key.id), true);
    assert.equal(keys.bySecret(key.secret), undefined, 'revoked from the next check on');
    assert.equal(keys.verify(key.id, key.secret), undefined);
    assert.equal(keys.get(key.id), undefined);
    assert.equal(keys.secret(key.id), undefined);
    assert.equal(keys.remove(key.id), false);
    assert.equal(keys.remove('NMBSAAAAAAAAAAAAAAAA'), false);
    await keys.sync();
    const later = await b.open();
    assert.equal(later.get(key.id), undefined);
    assert.equal(later.bySecret(key.secret), undefined);
    assert.equal(later.bySecret(kept.secret)?.id, kept.id);
  });

  it("list shows people's keys oldest first; a function's own keys are only in ownedBy", async (b) => {
    const keys = await b.open();
    const second = keys.create({ scope: 'read' }, 20);
    const first = keys.create({ scope: 'admin' }, 10);
    const own = keys.create({ scope: 'invoke', namespace: 'team-a', owner: 'fn:api.team-a' }, 5);
    keys.create({ scope: 'invoke', owner: 'fn:other' }, 6);
    await keys.sync();
    assert.deepEqual(
      keys.list().map((k) => k.id),
      [first.id, second.id],
    );
    assert.deepEqual(
      keys.ownedBy('fn:api.team-a').map((k) => [k.id, k.owner, k.namespace]),
      [[own.id, 'fn:api.team-a', 'team-a']],
    );
    assert.deepEqual(keys.ownedBy('fn:none'), []);
  });

  it('at rest the storage holds no secret; without the master key a secret does not open', async (b) => {
    const keys = await b.open();
    const key = keys.create({ scope: 'admin', namespace: '*' });
    await keys.sync();
    const raw = await b.raw();
    assert.ok(raw.length > 0, 'the backend shows its storage');
    assert.equal(raw.includes(key.secret), false, 'the secret itself');
    assert.equal(raw.includes(key.secret.slice(KEY_SECRET_PREFIX.length)), false, 'its random part');
    assert.equal(raw.includes(Buffer.from(key.secret).toString('base64')), false, 'as base64');
    assert.ok(
      raw.includes(hashSecret(key.secret)) || raw.includes(hashSecret(key.secret).toString('hex')),
      'its hash is what is stored',
    );
    // Another master key: the hash still identifies a bearer, the sealed secret does not open (no SigV4).
    const other = await b.open(new Sealer(Buffer.alloc(32, 9)));
    assert.equal(other.bySecret(key.secret)?.id, key.id);
    assert.equal(other.secret(key.id), undefined);
  });

  it('hostile lookups answer nothing and break nothing', async (b) => {
    const keys = await b.open();
    const key = keys.create({ scope: 'admin' });
    await keys.sync();
    for (const bad of [
      '',
      ' ',
      '__proto__',
      'constructor',
      'toString',
      'x'.repeat(100_000),
      '\u0000',
      '💥',
    ]) {
      assert.equal(keys.bySecret(bad), undefined, JSON.stringify(bad.slice(0, 20)));
      assert.equal(keys.get(bad), undefined);
      assert.equal(keys.secret(bad), undefined);
      assert.equal(keys.verify(bad, bad), undefined);
      assert.equal(keys.verify(key.id, bad), undefined);
      assert.equal(keys.remove(bad), false);
      assert.deepEqual(keys.ownedBy(bad), []);
    }
    // The secret as an id, the id as a secret.
    assert.equal(keys.get(key.secret), undefined);
    assert.equal(keys.bySecret(key.id), undefined);
    assert.equal(keys.bySecret(key.secret)?.id, key.id, 'the key still works');
  });
}
