// Logs across a cluster: /system/logs (and so `nimbus logs` and the dashboard) on any node shows what the
// function's instances on every node wrote, merged by time, each line naming its node and instance; a
// follower on one node gets the lines written on another as they come, once each.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLUSTER_TOKEN, startClusterNodes } from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { BIN } from '../helpers/nimbus-process.js';
import { waitFor } from '../helpers/platform.js';

const skip = natsSkip();

interface Line {
  name: string;
  instance: string;
  timestamp: string;
  text: string;
}

function parseLines(text: string): Line[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

test("cluster: /system/logs on one node shows every node's lines, and follows them", {
  skip,
  timeout: 120_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 2);
  const [one, two] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-cluster-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'index.mjs'),
    'export default async (request) => { console.log("said " + (await request.text())); return new Response("ok"); };\n',
  );
  await one.deploy(dir, 'talker');
  const say = async (node: typeof one, text: string) => {
    const res = await fetch(`${node.url}/function/talker`, { method: 'POST', body: text });
    assert.equal(res.status, 200, await res.text());
  };
  // Node 2 learns of the function from the shared registry.
  await waitFor(
    async () => (await fetch(`${two.url}/function/talker`, { method: 'POST', body: 'warm' })).ok,
    20_000,
    'node 2',
  );
  await say(one, 'one');
  await say(two, 'two');
  const logs = async (node: typeof one, query: string) => {
    const res = await fetch(`${node.url}/system/logs?name=talker&${query}`, {
      headers: { authorization: `Bearer ${CLUSTER_TOKEN}` },
    });
    assert.equal(res.status, 200);
    return parseLines(await res.text());
  };
  // Lines are written by the instance a moment after it answers: wait until both are kept.
  const all = await waitFor(
    async () => {
      const lines = await logs(one, 'tail=-1');
      return lines.some((l) => l.text === 'said one') && lines.some((l) => l.text === 'said two')
        ? lines
        : false;
    },
    20_000,
    "both nodes' lines through node 1",
  );
  const said = all.filter((l) => l.text.startsWith('said '));
  assert.deepEqual(
    said.map((l) => [l.text, l.instance.split('/')[0]]),
    [
      ['said warm', 'node-2'],
      ['said one', 'node-1'],
      ['said two', 'node-2'],
    ],
    'merged by time, each naming its node',
  );
  assert.ok(
    said.every((l) => /^node-\d\/i\w+$/.test(l.instance)),
    'instances are node/instance',
  );
  // The same from node 2; tail counts across the cluster; an instance filter narrows to one node's instance.
  assert.deepEqual(
    (await logs(two, 'tail=-1')).filter((l) => l.text.startsWith('said ')).map((l) => l.text),
    ['said warm', 'said one', 'said two'],
  );
  assert.deepEqual(
    (await logs(one, 'tail=1')).map((l) => l.text),
    ['said two'],
  );
  const twoInstance = said.find((l) => l.text === 'said two')!.instance;
  assert.deepEqual(
    (await logs(one, `instance=${encodeURIComponent(twoInstance)}`)).map((l) => l.text),
    ['said warm', 'said two'],
  );

  // Following on node 1: past lines, then node 2's new ones as they come (and node 1's), once each.
  const res = await fetch(`${one.url}/system/logs?name=talker&follow=true&tail=1`, {
    headers: { authorization: `Bearer ${CLUSTER_TOKEN}` },
  });
  const reader = res.body!.getReader();
  let text = '';
  const readUntil = async (needle: string) => {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before ${needle}: ${text}`);
      text += Buffer.from(value).toString();
    }
  };
  await readUntil('said two');
  await say(two, 'three');
  await readUntil('said three');
  await say(one, 'four');
  await readUntil('said four');
  await say(two, 'five');
  await readUntil('said five');
  await reader.cancel();
  assert.deepEqual(
    parseLines(text.slice(0, text.lastIndexOf('\n') + 1))
      .filter((l) => l.text.startsWith('said '))
      .map((l) => l.text),
    ['said two', 'said three', 'said four', 'said five'],
  );

  // `nimbus logs` against node 2 shows node 1's lines too.
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [BIN, 'logs', 'talker', '--url', two.url, '--token', CLUSTER_TOKEN],
      { env: { PATH: process.env.PATH }, timeout: 60_000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  );
  assert.match(out, /node-1\/i\w+ said four/);
  assert.match(out, /node-2\/i\w+ said five/);
});
