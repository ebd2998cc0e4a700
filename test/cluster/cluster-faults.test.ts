// Faults in a cluster: `kill -9` of one Nimbus node under async load (its leased calls run on the others,
// no acknowledged call is lost), a 3-server NATS cluster with replicas 3 losing a server under load, and
// cron firing each scheduled time once across three nodes.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CLUSTER_MASTER_KEY,
  CLUSTER_TOKEN,
  startClusterNode,
  startClusterNodes,
} from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream, startNatsCluster } from '../helpers/nats-server.js';
import { BIN } from '../helpers/nimbus-process.js';
import { waitFor } from '../helpers/platform.js';

const skip = natsSkip();

function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** Statuses of refused enqueues, for the diagnostics. */
const refusedStatuses = new Map<number, number>();

/** Queues `count` calls round-robin over `urls`; returns the ids answered 202 and how many were refused. */
async function enqueue(
  urls: () => string[],
  count: number,
  onAccepted: (id: string) => void,
): Promise<{ accepted: number; refused: number }> {
  let accepted = 0;
  let refused = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const targets = urls();
      const url = targets[i % targets.length]!;
      try {
        const res = await fetch(`${url}/async-function/who`, { method: 'POST', body: `call ${i}` });
        if (res.status === 202) {
          accepted++;
          onAccepted(res.headers.get('x-call-id')!);
        } else {
          refused++;
          refusedStatuses.set(res.status, (refusedStatuses.get(res.status) ?? 0) + 1);
        }
        await res.arrayBuffer();
      } catch {
        refused++;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { accepted, refused };
}

function ranCalls(file: string): Map<string, string[]> {
  const ran = new Map<string, string[]>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {}
  for (const line of text.split('\n')) {
    const [id, node] = line.split(' ');
    if (id && node) ran.set(id, [...(ran.get(id) ?? []), node]);
  }
  return ran;
}

test('cluster: kill -9 of one node under async load loses no acknowledged call; its leased calls run elsewhere', {
  skip,
  timeout: 150_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-cluster-kill-'));
  const recordFile = join(dir, 'calls.log');
  writeFileSync(recordFile, '');
  const lease = { asyncLeaseMs: 1000 };
  const survivors = await startClusterNodes(t, [nats.url], 2, lease);
  // The victim is a real process, so that it can die by SIGKILL.
  const config = join(dir, 'node.yml');
  writeFileSync(
    config,
    [
      `cluster: ${nats.url}`,
      `adminToken: ${CLUSTER_TOKEN}`,
      `masterKey: ${CLUSTER_MASTER_KEY}`,
      'nodeId: victim',
      'asyncLeaseMs: 1000',
      'sandbox: off',
      'shutdownGraceMs: 1000',
      'stemCells: { min: 0, max: 0 }',
    ].join('\n'),
  );
  const victim: ChildProcess = spawn(
    process.execPath,
    [BIN, 'up', '--port', '0', '--data', join(dir, 'data'), '--config', config],
    {
      cwd: dir,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  victim.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  victim.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => victim.once('exit', () => resolve()));
  const pids = new Set<number>();
  t.after(async () => {
    for (const pid of descendants(victim.pid!)) pids.add(pid);
    if (victim.exitCode === null && victim.signalCode === null) victim.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const victimUrl = await waitFor(
    () => {
      if (victim.exitCode !== null) throw new Error(`the victim exited: ${out}`);
      return /Nimbus listening on (http:\/\/\S+)/.exec(out)?.[1];
    },
    30_000,
    'the victim to listen',
  );
  await waitFor(() => /nimbus: ready/.test(out), 30_000, 'the victim to be ready');

  // Slow enough (40 ms a call, 4 at a time per node) that calls are queued and leased when the kill comes.
  await survivors[0]!.deploy('whoami', 'who', {
    environment: { RECORD_FILE: recordFile, DELAY_MS: 40 },
    concurrency: 4,
    async: { concurrency: 4 },
  });
  await waitFor(
    async () => (await fetch(`${victimUrl}/function/who`)).status === 200,
    10_000,
    'who on the victim',
  );

  const total = 240;
  const accepted = new Set<string>();
  let killedAt = -1;
  const urls = () =>
    killedAt < 0 ? [victimUrl, ...survivors.map((s) => s.url)] : survivors.map((s) => s.url);
  const result = await enqueue(urls, total, (id) => {
    accepted.add(id);
    if (killedAt < 0 && accepted.size >= total / 2) {
      // Kill once the victim has run some calls (it holds leases on others right now).
      const ran = [...ranCalls(recordFile).values()].filter((nodes) => nodes.includes(victimUrl)).length;
      if (ran === 0) return;
      for (const pid of descendants(victim.pid!)) pids.add(pid);
      victim.kill('SIGKILL');
      killedAt = ranCalls(recordFile).size;
    }
  });
  assert.ok(killedAt >= 0, 'the victim was killed under load');
  await exited;
  const ran = await waitFor(
    () => {
      const now = ranCalls(recordFile);
      return [...accepted].every((id) => now.has(id)) ? now : false;
    },
    60_000,
    'every acknowledged call to run',
  );
  const lost = [...accepted].filter((id) => !ran.has(id));
  const byVictim = [...ran.values()].filter((nodes) => nodes.includes(victimUrl)).length;
  const again = [...ran.entries()].filter(([, nodes]) => nodes.length > 1 && nodes[0] === victimUrl).length;
  t.diagnostic(
    `kill -9: ${accepted.size} acknowledged (${result.refused} refused), ${killedAt} had run at the kill, ` +
      `${byVictim} ran on the victim, ${again} run again elsewhere after it died mid-call; lost ${lost.length}`,
  );
  assert.equal(lost.length, 0);
  assert.ok(byVictim > 0, 'the victim took part before it died');
});

test('cluster: a 3-server NATS cluster with replicas 3 loses a server under load; nothing acknowledged is lost', {
  skip,
  timeout: 150_000,
}, async (t) => {
  const servers = await startNatsCluster(t, 3);
  const urls = servers.map((s) => s.url);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-nats-kill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const recordFile = join(dir, 'calls.log');
  writeFileSync(recordFile, '');
  const nodes = await startClusterNodes(t, urls, 2, { clusterReplicas: 3 });
  await nodes[0]!.deploy('whoami', 'who', {
    environment: { RECORD_FILE: recordFile, DELAY_MS: 5 },
    concurrency: 8,
    async: { concurrency: 8 },
  });
  await waitFor(
    async () => (await fetch(`${nodes[1]!.url}/function/who`)).status === 200,
    10_000,
    'who on node 2',
  );

  const total = 300;
  const accepted = new Set<string>();
  let killed = false;
  const result = await enqueue(
    () => nodes.map((n) => n.url),
    total,
    (id) => {
      accepted.add(id);
      if (!killed && accepted.size >= total / 3) {
        killed = true;
        void servers[0]!.stop('SIGKILL');
      }
    },
  );
  assert.ok(killed);
  // Calls refused while the stream's leader moved said so (503, nothing promised); once it has moved,
  // the two remaining servers take calls again.
  const afterKill = accepted.size;
  const deadline = Date.now() + 40_000;
  while (accepted.size < afterKill + 50 && Date.now() < deadline)
    await enqueue(
      () => nodes.map((n) => n.url),
      20,
      (id) => accepted.add(id),
    );
  assert.ok(
    accepted.size >= afterKill + 50,
    `calls are acknowledged again after the failover (${accepted.size - afterKill})`,
  );
  const ran = await waitFor(
    () => {
      const now = ranCalls(recordFile);
      return [...accepted].every((id) => now.has(id)) ? now : false;
    },
    90_000,
    'every acknowledged call to run',
  );
  const lost = [...accepted].filter((id) => !ran.has(id));
  t.diagnostic(
    `NATS server killed: ${accepted.size} acknowledged, ${result.refused} refused during the failover (statuses ${JSON.stringify([...refusedStatuses])}); lost ${lost.length}`,
  );
  assert.equal(lost.length, 0);
});

test('cluster: a schedule fires each scheduled time exactly once across three nodes', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 3);
  // A seconds-resolution schedule (croner's six fields) keeps this fast: eight slots in about eight seconds.
  await nodes[0]!.deploy('hello', 'tick', { schedule: '* * * * * *', allowOverlap: true });
  const handled = () =>
    nodes.flatMap((n, i) =>
      n.events
        .filter((e) => (e.type === 'cron-fired' || e.type === 'cron-skipped') && e.name === 'tick')
        .map((e) => ({ node: i, slot: String(e.slot) })),
    );
  await waitFor(() => new Set(handled().map((h) => h.slot)).size >= 9, 40_000, 'nine scheduled times');
  const all = handled();
  const bySlot = new Map<string, number[]>();
  for (const h of all) bySlot.set(h.slot, [...(bySlot.get(h.slot) ?? []), h.node]);
  const twice = [...bySlot].filter(([, n]) => n.length > 1);
  assert.deepEqual(twice, [], 'no time fired on two nodes');
  const slots = [...bySlot.keys()].map((s) => Date.parse(s)).sort((a, b) => a - b);
  const span = (slots.at(-1)! - slots[0]!) / 1000 + 1;
  assert.ok(
    slots.length >= span * 0.8,
    `${slots.length} of ${span} seconds fired (a stalled VM may merge a few)`,
  );
  const firedBy = new Set(all.map((h) => h.node));
  t.diagnostic(`cron: ${slots.length} times over ${span} s, fired by nodes ${[...firedBy].join(', ')}`);
  // The runs are queued calls: cluster-wide records.
  const { counts } = await nodes[2]!.client.call<{ counts: Record<string, number> }>(
    'GET',
    '/system/calls?function=tick&limit=0',
  );
  assert.ok(counts.succeeded! + counts.running! + counts.queued! >= slots.length - 1);
  void startClusterNode;
});
