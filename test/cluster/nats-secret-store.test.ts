// Secrets in JetStream KV against a real nats-server: the SecretStore contract
// (test/unit/secret-store-contract.ts), and what is its own: a secret made, updated or removed through one
// store counts in another open store (another node), a sealed value filed under another name does not open,
// a write JetStream does not acknowledge rejects `sync()` and is undone, and a node's SQLite secrets move
// into the cluster once.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Sealer } from '../../src/auth/master-key.js';
import { adoptLocalSecrets } from '../../src/cluster/adopt-local-secrets.js';
import { NatsSecretStore, secretKey } from '../../src/store/nats-secret-store.js';
import { SqliteSecretStore } from '../../src/store/sqlite-secret-store.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/platform.js';
import { CONTRACT_SECRET_SEALER, secretStoreContract } from '../unit/secret-store-contract.js';

const skip = natsSkip();
type After = { after: (fn: () => Promise<void> | void) => void };

async function natsBackend(t: After) {
  const server = await startJetStream(t);
  const bucket = `secrets-${Math.random().toString(36).slice(2, 8)}`;
  const opened: { nc: NatsConnection; store: NatsSecretStore }[] = [];
  const invalid: { key: string; error: string }[] = [];
  t.after(async () => {
    for (const o of opened) {
      o.store.close();
      await o.nc.close();
    }
  });
  return {
    server,
    bucket,
    invalid,
    async open(sealer: Sealer = CONTRACT_SECRET_SEALER) {
      const nc = await connect({ servers: server.url });
      const store = await NatsSecretStore.open({
        nc,
        sealer,
        bucket,
        onInvalid: (_bucket, key, error) => invalid.push({ key, error }),
      });
      opened.push({ nc, store });
      return store;
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

secretStoreContract('jetstream secret store', natsBackend, { skip });

test('jetstream secret store: made, updated and removed on one node, it counts on another within a second', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const one = await b.open();
  const two = await b.open();
  one.create('team-a', 'db-password', Buffer.from('first'));
  await one.sync();
  await waitFor(() => two.has('team-a', 'db-password'), 20_000, 'the secret on node two');
  assert.equal(two.values('team-a', ['db-password']).get('db-password')!.toString(), 'first');
  const updatedAt = performance.now();
  two.update('team-a', 'db-password', Buffer.from('rotated'));
  await two.sync();
  await waitFor(
    () => one.values('team-a', ['db-password']).get('db-password')!.toString() === 'rotated',
    20_000,
    'the new value on node one',
  );
  const ms = performance.now() - updatedAt;
  t.diagnostic(`an update was seen by the other node ${ms.toFixed(0)} ms after it was acknowledged`);
  assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
  one.removeNamespace('team-a');
  await one.sync();
  await waitFor(() => !two.has('team-a', 'db-password'), 20_000, 'the removal on node two');
  assert.throws(() => two.values('team-a', ['db-password']), { code: 'ERR_SECRET_NOT_FOUND' });
});

test('jetstream secret store: a value filed under another name or namespace, or not a secret, is not served', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const store = await b.open();
  store.create('default', 'one', Buffer.from('plain'));
  await store.sync();
  const nc = await connect({ servers: b.server.url });
  t.after(() => nc.close());
  const kv = await new Kvm(nc).open(b.bucket);
  const record = (await kv.get(secretKey('default', 'one')))!.json<Record<string, unknown>>();
  // The record of `one` re-labelled `two`: its value is sealed for `one` and does not open as `two`.
  await kv.put(secretKey('default', 'two'), JSON.stringify({ ...record, name: 'two' }));
  // The record of `one`, as is, filed where `three` would be: not `three` at all.
  await kv.put(secretKey('default', 'three'), JSON.stringify(record));
  // The record of `one` re-labelled into team-a.
  await kv.put(secretKey('team-a', 'one'), JSON.stringify({ ...record, namespace: 'team-a' }));
  await kv.put(secretKey('default', 'four'), 'not json');
  await waitFor(() => store.has('default', 'two') && store.has('team-a', 'one'), 20_000, 'the entries');
  assert.throws(() => store.values('default', ['two']), { code: 'ERR_INTERNAL' });
  assert.throws(() => store.values('team-a', ['one']), { code: 'ERR_INTERNAL' });
  await waitFor(() => b.invalid.some((i) => i.key === secretKey('default', 'four')), 20_000, 'the bad one');
  assert.equal(store.has('default', 'three'), false);
  assert.equal(store.has('default', 'four'), false);
  assert.deepEqual(
    store.list('default').map((s) => s.name),
    ['one', 'two'],
  );
  assert.equal(store.values('default', ['one']).get('one')!.toString(), 'plain');
});

test('jetstream secret store: a write JetStream does not acknowledge rejects sync() and is undone here', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const b = await natsBackend(t);
  const store = await b.open();
  store.create('default', 'kept', Buffer.from('v1'));
  await store.sync();
  await b.server.stop();
  store.create('default', 'lost', Buffer.from('x'));
  assert.equal(store.has('default', 'lost'), true, 'shown at once on its own node');
  await assert.rejects(store.sync());
  assert.equal(store.has('default', 'lost'), false, 'a secret never stored is not served');
  store.update('default', 'kept', Buffer.from('v2'));
  await assert.rejects(store.sync());
  assert.equal(store.values('default', ['kept']).get('kept')!.toString(), 'v1', 'the stored value again');
});

test('jetstream secret store: a node joining a cluster brings its secrets in once, and they leave its file', {
  skip,
}, async (t) => {
  const b = await natsBackend(t);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-adopt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'nimbus.db');
  const shared = await b.open();
  shared.create('default', 'taken', Buffer.from('the cluster value'));
  await shared.sync();
  const local = new SqliteSecretStore(file, CONTRACT_SECRET_SEALER);
  local.create('team-a', 'token', Buffer.from('from the node'), 9);
  local.create('default', 'taken', Buffer.from('the node value'));
  local.close();
  const events: { type: string; [key: string]: unknown }[] = [];
  await adoptLocalSecrets(file, CONTRACT_SECRET_SEALER, shared, { event: (e) => events.push(e) });
  assert.deepEqual(
    events.map((e) => [e.type, e.adopted]),
    [['secrets-adopted', 1]],
  );
  const other = await b.open();
  assert.equal(other.values('team-a', ['token']).get('token')!.toString(), 'from the node');
  assert.deepEqual(other.list('team-a'), [
    { namespace: 'team-a', name: 'token', createdAt: 9, updatedAt: 9 },
  ]);
  assert.equal(other.values('default', ['taken']).get('taken')!.toString(), 'the cluster value');
  const reopened = new SqliteSecretStore(file, CONTRACT_SECRET_SEALER);
  t.after(() => reopened.close());
  assert.deepEqual(reopened.records(), []);
});
