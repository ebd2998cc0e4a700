// Access keys in JetStream KV against a real nats-server: the KeyStore contract (test/unit/key-store-contract.ts),
// and what is its own: a key made or revoked through one store counts in another open store (another node)
// within a second, a bucket entry that is not a key is skipped, a write JetStream does not acknowledge
// rejects `sync()` and is undone, and a node's SQLite keys move into the cluster once.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Sealer } from '../../src/auth/master-key.js';
import { NatsKeyStore } from '../../src/auth/nats-key-store.js';
import { SqliteKeyStore } from '../../src/auth/sqlite-key-store.js';
import { adoptLocalKeys } from '../../src/cluster/adopt-local-keys.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/platform.js';
import { CONTRACT_SEALER, keyStoreContract } from '../unit/key-store-contract.js';

const skip = natsSkip();
type After = { after: (fn: () => Promise<void> | void) => void };

async function natsBackend(t: After) {
  const server = await startJetStream(t);
  const bucket = `keys-${Math.random().toString(36).slice(2, 8)}`;
  const opened: { nc: NatsConnection; keys: NatsKeyStore }[] = [];
  const invalid: { key: string; error: string }[] = [];
  t.after(async () => {
    for (const o of opened) {
      o.keys.close();
      await o.nc.close();
    }
  });
  return {
    server,
    bucket,
    invalid,
    async open(sealer: Sealer = CONTRACT_SEALER) {
      const nc = await connect({ servers: server.url });
      const keys = await NatsKeyStore.open({
        nc,
        sealer,
        bucket,
        onInvalid: (_bucket, key, error) => invalid.push({ key, error }),
      });
      opened.push({ nc, keys });
      return keys;
    },
    /** Every file of the server's JetStream store: what is at rest. */
    async raw() {
      const files: Buffer[] = [];
      const walk = (dir: string): void => {
        for (const name of readdirSync(dir)) {
          const path = join(dir, name);
          if (statSync(path).isDirectory()) walk(path);
          else files.push(readFileSync(path));
        }
      };
      walk(server.storeDir);
      return Buffer.concat(files);
    },
  };
}

keyStoreContract('jetstream key store', natsBackend, { skip });

test('jetstream key store: a key made or revoked on one node counts on another within a second', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const one = await b.open();
  const two = await b.open();
  const key = one.create({ scope: 'invoke', namespace: 'team-a' });
  await one.sync();
  await waitFor(() => two.bySecret(key.secret) !== undefined, 20_000, 'the key on node two');
  assert.equal(two.verify(key.id, key.secret)?.id, key.id);
  assert.equal(two.secret(key.id), key.secret, 'node two opens it for SigV4');
  const revokedAt = performance.now();
  assert.equal(two.remove(key.id), true);
  await two.sync();
  await waitFor(() => one.bySecret(key.secret) === undefined, 20_000, 'the revocation on node one');
  const ms = performance.now() - revokedAt;
  t.diagnostic(`revocation seen by the other node ${ms.toFixed(0)} ms after it was acknowledged`);
  assert.equal(one.verify(key.id, key.secret), undefined);
  assert.equal(one.get(key.id), undefined);
  // The goal is well within a second (a KV watch); the bound is generous for a loaded CI machine.
  assert.ok(ms < 10_000, `revocation took ${ms.toFixed(0)} ms`);
});

test('jetstream key store: an entry that is not a key, or is filed under another id, is skipped and said', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const keys = await b.open();
  const real = keys.create({ scope: 'admin' });
  await keys.sync();
  const nc = await connect({ servers: b.server.url });
  t.after(() => nc.close());
  const kv = await new Kvm(nc).open(b.bucket);
  await kv.put('NMBSBADBADBADBADBADB', 'not json');
  await kv.put('NMBSBADBADBADBADBAD2', JSON.stringify({ id: 'NMBSBADBADBADBADBAD2', scope: 'root' }));
  // A copy of a real key under another id: the entry's name is its id, so it is no key at all.
  const copy = (await kv.get(real.id))!.json<Record<string, unknown>>();
  await kv.put('NMBSCOPYCOPYCOPYCOPY', JSON.stringify(copy));
  const later = await b.open();
  await waitFor(() => b.invalid.length >= 6, 20_000, 'every bad entry reported (by both stores)');
  for (const store of [keys, later]) {
    assert.equal(store.get('NMBSBADBADBADBADBADB'), undefined);
    assert.equal(store.get('NMBSBADBADBADBADBAD2'), undefined);
    assert.equal(store.get('NMBSCOPYCOPYCOPYCOPY'), undefined);
    assert.equal(store.bySecret(real.secret)?.id, real.id, 'the real key still works');
  }
  assert.deepEqual([...new Set(b.invalid.map((i) => i.key))].sort(), [
    'NMBSBADBADBADBADBAD2',
    'NMBSBADBADBADBADBADB',
    'NMBSCOPYCOPYCOPYCOPY',
  ]);
});

test('jetstream key store: a write JetStream does not acknowledge rejects sync() and is undone here', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const b = await natsBackend(t);
  const keys = await b.open();
  const kept = keys.create({ scope: 'read' });
  await keys.sync();
  await b.server.stop();
  const lost = keys.create({ scope: 'admin' });
  assert.equal(keys.bySecret(lost.secret)?.id, lost.id, 'shown at once on its own node');
  await assert.rejects(keys.sync());
  assert.equal(keys.bySecret(lost.secret), undefined, 'a key never stored does not authenticate');
  assert.equal(keys.remove(kept.id), true);
  await assert.rejects(keys.sync());
  assert.equal(keys.bySecret(kept.secret)?.id, kept.id, 'a revocation never stored can be retried');
});

test('jetstream key store: a node joining a cluster brings its own keys in once, and they leave its file', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-adopt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'nimbus.db');
  const local = new SqliteKeyStore(file, CONTRACT_SEALER);
  const person = local.create({ scope: 'deploy', namespace: 'team-a', description: 'laptop' }, 7);
  local.create({ scope: 'invoke', owner: 'fn:api' });
  local.close();
  const shared = await b.open();
  const events: { type: string; [key: string]: unknown }[] = [];
  await adoptLocalKeys(file, CONTRACT_SEALER, shared, { event: (e) => events.push(e) });
  assert.deepEqual(
    events.map((e) => [e.type, e.adopted]),
    [['keys-adopted', 1]],
  );
  const { secret, ...view } = person;
  assert.deepEqual(shared.get(person.id), view);
  assert.equal(shared.secret(person.id), secret);
  assert.deepEqual(shared.ownedBy('fn:api'), [], "a function's key is made anew in the cluster");
  // Another node sees it; the file no longer holds it, so a revocation in the cluster is final.
  const other = await b.open();
  assert.equal(other.bySecret(secret)?.id, person.id);
  const reopened = new SqliteKeyStore(file, CONTRACT_SEALER);
  t.after(() => reopened.close());
  assert.deepEqual(reopened.records(), []);
  other.remove(person.id);
  await other.sync();
  await adoptLocalKeys(file, CONTRACT_SEALER, shared, { event: (e) => events.push(e) });
  await waitFor(() => shared.get(person.id) === undefined, 20_000, 'the revocation on the first store');
  assert.equal(events.length, 1, 'nothing more to adopt');
});

test('jetstream key store: once caughtUp() resolves, a node holds every key another node had written', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const one = await b.open();
  const two = await b.open();
  // Each time: acknowledged on node two, then asked for on node one at once (no waiting on the watch).
  for (let i = 0; i < 20; i++) {
    const key = two.create({ scope: 'read' });
    await two.sync();
    await one.caughtUp();
    assert.equal(one.get(key.id)?.id, key.id, `key ${i}`);
    assert.equal(two.remove(key.id), true);
    await two.sync();
    await one.caughtUp();
    assert.equal(one.get(key.id), undefined, `revocation ${i}`);
  }
});
