// Topic triggers: in-process on a single node (same API), over NATS in a cluster with queue-group
// semantics (each message runs once across the nodes), and through the async queue (at least once,
// recorded) when a JetStream stream holds the subject; request/reply; the OpenFaaS `topic` annotation.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import { startClusterNodes } from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

const skip = natsSkip();

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

test("topics: the spec takes topics, or OpenFaaS's topic annotation; bad subjects are refused", () => {
  assert.deepEqual(parseFunctionSpec({ topics: ['orders.created', 'orders.*', 'audit.>'] }).topics, [
    'orders.created',
    'orders.*',
    'audit.>',
  ]);
  assert.deepEqual(parseFunctionSpec({ annotations: { topic: 'orders.created, orders.paid' } }).topics, [
    'orders.created',
    'orders.paid',
  ]);
  assert.deepEqual(parseFunctionSpec({}).topics, []);
  for (const bad of [['a b'], ['a..b'], ['>.a'], [''], ['a.>.b']])
    assert.throws(() => parseFunctionSpec({ topics: bad }), { code: 'ERR_FUNCTION_SPEC_INVALID' });
  assert.throws(() => parseFunctionSpec({ annotations: { topic: 'bad subject' } }), {
    code: 'ERR_FUNCTION_SPEC_INVALID',
  });
});

test('topics: on a single node without NATS they work in-process, and say so', {
  timeout: 60_000,
}, async (t) => {
  const nimbus = await startTestPlatform(t);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-topics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const recordFile = join(dir, 'calls.log');
  await nimbus.deploy('hello', 'greeter', { topics: ['greet.*'] });
  await nimbus.deploy('whoami', 'audit', { topics: ['orders.>'], environment: { RECORD_FILE: recordFile } });
  const summary = nimbus.events.find((e) => e.type === 'topics');
  assert.equal(summary?.bus, 'in-process');
  assert.match(String(summary?.summary), /in-process/);
  // Request/reply: the function's answer comes back.
  const reply = await waitFor(
    async () => {
      const bytes = await nimbus.client
        .raw('POST', '/api/v1/topics/greet.bob?request=true', Buffer.from('bob'))
        .catch(() => undefined);
      return bytes?.toString();
    },
    10_000,
    'the greeter to subscribe',
  );
  assert.equal(reply, 'hello bob');
  // Publish: each message runs the subscriber once.
  for (let i = 0; i < 5; i++)
    await nimbus.client.raw('POST', `/api/v1/topics/orders.created.${i}`, Buffer.from(`o${i}`));
  await waitFor(() => lines(recordFile).length >= 5, 30_000, 'five runs');
  assert.equal(lines(recordFile).length, 5);
  // Hostile input: a wildcard or a malformed subject, a request nobody answers.
  await assert.rejects(nimbus.client.raw('POST', '/api/v1/topics/orders.*', Buffer.from('x')), {
    code: 'ERR_TOPIC_INVALID',
  });
  await assert.rejects(nimbus.client.raw('POST', '/api/v1/topics/a..b', Buffer.from('x')), {
    code: 'ERR_TOPIC_INVALID',
  });
  await assert.rejects(
    nimbus.client.raw('POST', '/api/v1/topics/nobody.here?request=true&timeoutMs=200', Buffer.from('x')),
    {
      code: 'ERR_TOPIC_NO_SUBSCRIBER',
    },
  );
  await assert.rejects(
    nimbus.client.raw('POST', '/api/v1/topics/x?request=true&timeoutMs=abc', Buffer.from('x')),
    {
      code: 'ERR_REQUEST_INVALID',
    },
  );
});

test("topics: in a cluster each message runs once across the nodes; a stream's subject goes through the async queue", {
  skip,
  timeout: 120_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 2);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-topics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const direct = join(dir, 'direct.log');
  const durable = join(dir, 'durable.log');
  // A stream holds orders.paid: those messages are queued (at least once, retried, recorded).
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  await (await jetstreamManager(nc)).streams.add({ name: 'ORDERS', subjects: ['orders.paid'] });
  await nodes[0]!.deploy('whoami', 'created', {
    topics: ['orders.created'],
    environment: { RECORD_FILE: direct },
  });
  await nodes[0]!.deploy('whoami', 'paid', {
    topics: ['orders.paid'],
    environment: { RECORD_FILE: durable },
  });
  // Both nodes subscribed (each says so in an event) before anything is published.
  await waitFor(
    () => nodes.every((n) => n.events.filter((e) => e.type === 'topic-subscribed').length >= 2),
    15_000,
    'both nodes to subscribe',
  );
  for (const n of nodes) {
    const subs = n.events.filter((e) => e.type === 'topic-subscribed');
    assert.deepEqual(subs.map((e) => [e.subject, e.delivery]).sort(), [
      ['orders.created', 'direct'],
      ['orders.paid', 'stream'],
    ]);
  }
  for (let i = 0; i < 20; i++) nc.publish('orders.created', `c${i}`);
  const js = (await import('@nats-io/jetstream')).jetstream(nc);
  for (let i = 0; i < 10; i++) await js.publish('orders.paid', `p${i}`);
  await waitFor(
    () => lines(direct).length >= 20 && lines(durable).length >= 10,
    30_000,
    'every message to run',
  );
  assert.equal(lines(direct).length, 20, 'each core message ran once (queue group)');
  assert.equal(lines(durable).length, 10, 'each stream message ran once');
  const ranOn = new Set(lines(direct).map((l) => l.split(' ')[1]));
  t.diagnostic(`core messages ran on ${ranOn.size} node(s)`);
  // The stream's messages are async calls with records, source topic.
  const { calls } = await nodes[1]!.client.call<{ calls: { source: string; status: string }[] }>(
    'GET',
    '/system/calls?function=paid',
  );
  assert.equal(calls.length, 10);
  assert.ok(calls.every((c) => c.source === 'topic'));
  // nimbus publish through a node reaches the cluster's subscribers too, and request/reply works over NATS.
  await nodes[1]!.client.raw('POST', '/api/v1/topics/orders.created', Buffer.from('via-api'));
  await waitFor(() => lines(direct).length >= 21, 10_000, 'the published message');
  const answer = await nodes[0]!.client.raw(
    'POST',
    '/api/v1/topics/orders.created?request=true',
    Buffer.from('q'),
  );
  assert.match(answer.toString(), /^http:\/\/127\.0\.0\.1:\d+$/);
});
