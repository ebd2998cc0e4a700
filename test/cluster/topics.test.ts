// Topic triggers: in-process on a single node (same API), over NATS in a cluster with queue-group
// semantics (each message runs once across the nodes), and through the async queue (at least once,
// recorded) when a JetStream stream holds the subject; request/reply; the OpenFaaS `topic` annotation.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { buildFunction } from '../../src/build/build.js';
import { NimbusClient } from '../../src/cli/client.js';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import { busSubject } from '../../src/triggers/topic-subject.js';
import { TopicTriggers } from '../../src/triggers/topics.js';
import { InProcessTopicBus } from '../../src/triggers/topics-local.js';
import { startClusterNodes } from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { BIN } from '../helpers/nimbus-process.js';
import { FIXTURES, startTestPlatform, type TestPlatform, waitFor } from '../helpers/platform.js';

const skip = natsSkip();

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Makes namespace team-a and deploys the whoami fixture there as `name`. */
async function whoamiInTeamA(
  nimbus: TestPlatform,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await nimbus.client.call('POST', '/api/v1/namespaces', { name: 'team-a' });
  const built = await buildFunction(join(FIXTURES, 'whoami'));
  try {
    await nimbus.client.uploadBundle(built);
    await new NimbusClient(nimbus.url, nimbus.platform.token, 'team-a').deploy(name, built.hash, {
      ...built.spec,
      ...spec,
    });
  } finally {
    rmSync(built.bundleDir, { recursive: true, force: true });
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
  // The platform's own subjects are nobody's topic: no leading wildcard (it would match them), not its
  // queue's or buckets' (`nimbus.…`), not NATS's request inboxes — neither to subscribe nor to reply to.
  for (const bad of [
    '>',
    '*',
    '*.created',
    '*.>',
    'nimbus.queue.>',
    'nimbus',
    'Nimbus.x',
    '_INBOX.>',
    '_inbox.abc',
  ])
    assert.throws(() => parseFunctionSpec({ topics: [bad] }), { code: 'ERR_FUNCTION_SPEC_INVALID' }, bad);
  assert.throws(() => parseFunctionSpec({ annotations: { topic: 'orders.created, >' } }), {
    code: 'ERR_FUNCTION_SPEC_INVALID',
  });
  assert.throws(() => parseFunctionSpec({ topicReply: 'nimbus.queue.NIMBUS_QUEUE.victim' }), {
    code: 'ERR_FUNCTION_SPEC_INVALID',
  });
  assert.deepEqual(parseFunctionSpec({ topics: ['nimbusly.x', 'inbox.>'] }).topics, [
    'nimbusly.x',
    'inbox.>',
  ]);
});

test("topics: a namespace's topics are its own, on the bus and through the API", async () => {
  const bus = new InProcessTopicBus();
  const runs: [string, string][] = [];
  const triggers = new TopicTriggers({
    bus,
    functions: () => [
      { name: 'audit', spec: { topics: ['orders.>'] } },
      { name: 'audit.team-a', spec: { topics: ['orders.>'] } },
    ],
    invoke: async (fn, message) => {
      runs.push([fn, message.subject]);
      return { status: 200, body: Buffer.from(fn) };
    },
    submit: async () => 'unused',
  });
  triggers.start();
  try {
    // The subscriptions are made on start (asynchronously): wait until both answer.
    await waitFor(
      async () =>
        (await bus.request('orders.ping', Buffer.from(''), 1000).catch(() => undefined)) !== undefined &&
        (await bus
          .request(busSubject('team-a', 'orders.ping'), Buffer.from(''), 1000)
          .catch(() => undefined)) !== undefined,
      10_000,
      'both subscriptions',
    );
    runs.length = 0;
    assert.equal((await bus.request('orders.created', Buffer.from('x'), 5000)).toString(), 'audit');
    assert.equal(
      (await bus.request('nimbus.ns.team-a.orders.created', Buffer.from('x'), 5000)).toString(),
      'audit.team-a',
    );
    // Each message reached its own namespace's function only, which sees the topic as its spec names it.
    assert.deepEqual(runs, [
      ['audit', 'orders.created'],
      ['audit.team-a', 'orders.created'],
    ]);
  } finally {
    await triggers.close();
  }
});

test("topics: publishing runs the functions of the namespace the key may deploy to, never the platform's subjects", {
  timeout: 60_000,
}, async (t) => {
  const nimbus = await startTestPlatform(t);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-topics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const recordFile = join(dir, 'team-a.log');
  await whoamiInTeamA(nimbus, 'audit', { topics: ['orders.>'], environment: { RECORD_FILE: recordFile } });
  const key = await nimbus.client.call<{ secret: string }>('POST', '/api/v1/keys', {
    scope: 'deploy',
    namespace: 'team-a',
  });
  const publish = (path: string) =>
    fetch(`${nimbus.url}${path}`, {
      method: 'POST',
      body: 'm',
      headers: { authorization: `Bearer ${key.secret}` },
    });
  // Team A's key publishes in team-a, and its function runs.
  await waitFor(
    async () =>
      (await publish('/api/v1/topics/orders.created?namespace=team-a&request=true&timeoutMs=1000')).ok,
    20_000,
    "team-a's function to subscribe",
  );
  await waitFor(() => lines(recordFile).length >= 1, 10_000, 'the run');
  // The same topic in the default namespace is another one: nobody there subscribes, and team-a's key may
  // not publish there anyway.
  const other = await nimbus.client
    .raw('POST', '/api/v1/topics/orders.created?request=true&timeoutMs=300', Buffer.from('m'))
    .catch((err: { code?: string }) => err.code);
  assert.equal(other, 'ERR_TOPIC_NO_SUBSCRIBER');
  assert.equal((await publish('/api/v1/topics/orders.created')).status, 403);
  // The platform's own subjects (its queue: an async call of any namespace's function) are refused.
  for (const subject of ['nimbus.queue.NIMBUS_QUEUE.audit', 'nimbus.ns.team-b.orders.created', '_INBOX.x']) {
    const res = await publish(`/api/v1/topics/${subject}?namespace=team-a`);
    assert.equal(res.status, 400, subject);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_TOPIC_INVALID');
  }
  assert.equal(lines(recordFile).length, 1);
  // `nimbus publish --namespace team-a` publishes there too (the CLI as users run it, with team-a's key).
  const published = await new Promise<{ code: number; stdout: string }>((resolve) =>
    execFile(
      process.execPath,
      [
        BIN,
        'publish',
        'orders.paid',
        '--data',
        'p',
        '--namespace',
        'team-a',
        '--url',
        nimbus.url,
        '--token',
        key.secret,
      ],
      { env: { PATH: process.env.PATH }, timeout: 60_000 },
      (err, stdout) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout }),
    ),
  );
  assert.equal(published.code, 0, published.stdout);
  await waitFor(() => lines(recordFile).length >= 2, 20_000, "the run of the CLI's message");
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
  // The same topic in another namespace is that namespace's own, under its prefix on NATS.
  const teamA = join(dir, 'team-a.log');
  await whoamiInTeamA(nodes[0]!, 'created', {
    topics: ['orders.created'],
    environment: { RECORD_FILE: teamA },
  });
  // Both nodes subscribed (each says so in an event) before anything is published.
  await waitFor(
    () => nodes.every((n) => n.events.filter((e) => e.type === 'topic-subscribed').length >= 3),
    15_000,
    'both nodes to subscribe',
  );
  for (const n of nodes) {
    const subs = n.events.filter((e) => e.type === 'topic-subscribed');
    assert.deepEqual(subs.map((e) => [e.subject, e.delivery]).sort(), [
      ['nimbus.ns.team-a.orders.created', 'direct'],
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
  nc.publish('nimbus.ns.team-a.orders.created', 'a0');
  await waitFor(() => lines(teamA).length >= 1, 30_000, "team-a's message");
  assert.equal(
    lines(teamA).length,
    1,
    "team-a's function got its own topic's message, none of the default's",
  );
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
