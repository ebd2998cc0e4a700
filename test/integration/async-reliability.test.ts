// Reliability of the async queue with the real `nimbus up`: ≥ 2,000 calls enqueued at concurrency 32, the
// platform killed with SIGKILL in the middle, restarted on the same data dir — every call that got a 202
// runs (none lost); duplicates (at-least-once) are counted and reported. Then the `nimbus calls` CLI.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { NimbusClient } from '../../src/cli/client.js';
import { FIXTURES, waitFor } from '../helpers/platform.js';

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;
/** Calls that must get a 202 in all. */
const TOTAL_CALLS = 2048;
const CONCURRENCY = 32;

interface Up {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** PIDs of every process under `pid` (instances, stem cells), read from /proc. */
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

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

async function startUp(cwd: string, data: string, config: string, tmp: string): Promise<Up> {
  const child = spawn(process.execPath, [BIN, 'up', '--port', '0', '--data', data, '--config', config], {
    cwd,
    env: { PATH: process.env.PATH, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-4000);
  });
  const url = await waitFor<string | undefined>(
    () => {
      if (child.exitCode !== null) throw new Error(`nimbus up exited: ${err}`);
      return /Nimbus listening on (http:\/\/\S+)/.exec(out)?.[1];
    },
    15_000,
    'nimbus up to listen',
  );
  return { child, url: url!, exited };
}

/** POSTs to /async-function/record with `concurrency` requests in flight until `want` got a 202 or `stop()`. */
async function enqueueMany(
  url: string,
  want: number,
  onAccepted: (id: string) => void,
  stop: () => boolean,
): Promise<{ accepted: number; failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let accepted = 0;
  let started = 0;
  let failed = 0;
  const one = () =>
    new Promise<string | undefined>((resolve) => {
      const req = request(
        `${url}/async-function/record`,
        { method: 'POST', agent, headers: { 'content-type': 'text/plain' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 202 ? String(res.headers['x-call-id']) : undefined));
          res.on('error', () => resolve(undefined));
        },
      );
      req.on('error', () => resolve(undefined));
      req.end('payload');
    });
  const loop = async () => {
    while (started < want && !stop()) {
      started++;
      const id = await one();
      if (id) {
        accepted++;
        onAccepted(id);
      } else {
        failed++;
        started--;
        if (stop()) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  agent.destroy();
  return { accepted, failed };
}

function run(
  args: string[],
  cwd: string,
  data: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args, '--data', data],
      { cwd, env: { PATH: process.env.PATH }, timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('async calls survive kill -9 of the platform; none is lost', { timeout: 90_000 }, async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nimbus-reliability-'));
  const data = join(cwd, '.nimbus');
  const tmp = join(cwd, 'tmp');
  mkdirSync(tmp);
  // What the function writes: each call id it ran, one per line.
  const recordFile = join(cwd, 'calls.log');
  writeFileSync(recordFile, '');
  const config = join(cwd, 'nimbus.config.yml');
  // A short lease so the calls held by the killed process come back within a second. The function
  // writes a file of the test's, which a sandboxed instance (its own /tmp, user nobody) may not: until
  // the sandbox can grant a writable path, this test runs instances unsandboxed.
  writeFileSync(config, 'asyncLeaseMs: 1000\nshutdownGraceMs: 2000\nsandbox: off\n');
  const pids = new Set<number>();
  let up: Up | undefined;
  t.after(() => {
    if (up) for (const pid of descendants(up.child.pid!)) pids.add(pid);
    if (up?.child.exitCode === null) up.child.kill('SIGKILL');
    killAll([...pids]);
    rmSync(cwd, { recursive: true, force: true });
  });

  up = await startUp(cwd, data, config, tmp);
  const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  const client = new NimbusClient(up.url, token);
  const fnDir = join(cwd, 'record');
  mkdirSync(fnDir);
  copyFileSync(join(FIXTURES, 'record/index.ts'), join(fnDir, 'index.ts'));
  const built = await buildFunction(fnDir, { outDir: join(cwd, 'bundle') });
  await client.uploadBundle(built);
  // Slower than the enqueues on any machine (8 at a time, 10 ms each): a backlog is queued at the kill.
  await client.deploy('record', built.hash, {
    environment: { RECORD_FILE: recordFile, DELAY_MS: 10 },
    concurrency: 8,
    scale: { max: 1 },
    async: { concurrency: 8 },
  });

  // Phase 1: enqueue; SIGKILL the platform once half the calls were acknowledged.
  const accepted = new Set<string>();
  let killed = false;
  const first = up;
  const phase1 = await enqueueMany(
    first.url,
    TOTAL_CALLS,
    (id) => {
      accepted.add(id);
      if (!killed && accepted.size >= TOTAL_CALLS / 2) {
        killed = true;
        for (const pid of descendants(first.child.pid!)) pids.add(pid);
        first.child.kill('SIGKILL');
      }
    },
    () => killed,
  );
  await first.exited;
  const ranBeforeKill = new Set(readFileSync(recordFile, 'utf8').split('\n').filter(Boolean)).size;
  assert.ok(killed, 'the platform was killed mid-run');
  assert.ok(ranBeforeKill < accepted.size, 'calls were still queued when the platform died');
  // Instances notice their platform is gone (their socket closes) and exit; none may linger.
  await waitFor(() => [...pids].every((pid) => !existsSync(`/proc/${pid}`)), 5000, 'the instances to exit');

  // Phase 2: restart on the same data dir and enqueue the rest.
  up = await startUp(cwd, data, config, tmp);
  const phase2 = await enqueueMany(
    up.url,
    TOTAL_CALLS - accepted.size,
    (id) => accepted.add(id),
    () => false,
  );
  assert.equal(accepted.size, TOTAL_CALLS);

  // Every acknowledged call runs, at least once.
  const counts = new Map<string, number>();
  await waitFor(
    () => {
      counts.clear();
      for (const id of readFileSync(recordFile, 'utf8').split('\n'))
        if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
      return [...accepted].every((id) => counts.has(id));
    },
    40_000,
    'every acknowledged call to run',
  );
  const lost = [...accepted].filter((id) => !counts.has(id));
  const duplicates = [...counts.values()].filter((n) => n > 1).length;
  const unacknowledged = [...counts.keys()].filter((id) => !accepted.has(id)).length;
  const summary =
    `reliability: ${accepted.size} calls acknowledged (${phase1.accepted} before the kill, ${phase2.accepted} after), ` +
    `${ranBeforeKill} had run at the kill; lost ${lost.length}; run more than once ${duplicates}; ` +
    `run without a 202 (in flight at the kill) ${unacknowledged}; requests refused while down ${phase1.failed + phase2.failed}`;
  t.diagnostic(summary);
  assert.equal(lost.length, 0);

  // And every record says succeeded.
  const client2 = new NimbusClient(up.url, token);
  await waitFor(
    async () => {
      const { counts: c } = await client2.call<{ counts: Record<string, number> }>(
        'GET',
        '/system/calls?function=record&limit=0',
      );
      return c.queued === 0 && c.running === 0;
    },
    10_000,
    'the call records to settle',
  );
  const statuses = new Map<string, string>();
  let before = '';
  for (;;) {
    const { calls } = await client2.call<{ calls: { id: string; status: string }[] }>(
      'GET',
      `/system/calls?function=record&limit=1000${before}`,
    );
    for (const c of calls) statuses.set(c.id, c.status);
    if (calls.length < 1000) break;
    before = `&before=${calls.at(-1)!.id}`;
  }
  const notSucceeded = [...accepted].filter((id) => statuses.get(id) !== 'succeeded');
  assert.deepEqual(notSucceeded, []);

  await t.test('nimbus calls: ls, get, redrive; nimbus ls shows the next cron run', async () => {
    const throwsBuilt = await buildFunction(join(FIXTURES, 'throws'), { outDir: join(cwd, 'bundle-throws') });
    await client2.uploadBundle(throwsBuilt);
    await client2.deploy('throws', throwsBuilt.hash, { async: { retries: 0 }, schedule: '0 0 1 1 *' });
    const res = await fetch(`${up!.url}/async-function/throws`, { method: 'POST' });
    const id = res.headers.get('x-call-id')!;
    await waitFor(
      async () => (await client2.call<{ status: string }>('GET', `/system/calls/${id}`)).status === 'dead',
      5000,
      'the call to die',
    );

    let r = await run(['calls', 'ls', 'throws', '--status', 'dead'], cwd, data);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+FUNCTION\s+STATUS\s+ATTEMPTS\s+HTTP/);
    assert.match(r.stdout, new RegExp(`${id}\\s+throws\\s+dead\\s+1\\s+500\\s+http`));
    assert.match(r.stdout, /throws: 0 queued, 0 running, 0 succeeded, 0 failed, 1 dead/);
    r = await run(['calls', 'get', id], cwd, data);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /status: dead/);
    assert.match(r.stdout, /code: ERR_HANDLER_FAILED/);
    r = await run(['calls', 'redrive', id], cwd, data);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^redrove ${id} \\(throws\\): (queued|running|dead)`));
    await waitFor(
      async () =>
        (await client2.call<{ status: string; redrives: number }>('GET', `/system/calls/${id}`)).redrives ===
        1,
      5000,
      'the redrive',
    );
    await waitFor(
      async () => (await client2.call<{ status: string }>('GET', `/system/calls/${id}`)).status === 'dead',
      5000,
      'the call to die again',
    );
    r = await run(['calls', 'redrive', '--all', '--function', 'throws'], cwd, data);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'redrove 1 dead call of throws');
    r = await run(['calls', 'get', 'no-such-call'], cwd, data);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_CALL_NOT_FOUND/);
    r = await run(['calls', 'frob'], cwd, data);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_CLI_USAGE: unknown sub-command "frob"/);
    r = await run(['ls'], cwd, data);
    assert.match(r.stdout, /NEXT RUN/);
    assert.match(r.stdout, /\nthrows\s.*\s\d{4}-01-01T\d\d:\d\d:00\.000Z\s/);
    assert.match(r.stdout, /\nrecord\s.*\s-\s+http/);
  });

  const stopping = up.exited;
  up.child.kill('SIGTERM');
  assert.equal(await stopping, 0);
});
