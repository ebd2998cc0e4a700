// The real `nimbus` bin: up, new, deploy, invoke, ls, describe, rm, errors and exit codes, graceful shutdown.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive, runnerChildren, waitFor } from '../helpers/platform.js';

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function nimbus(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

test('the nimbus CLI', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nimbus-cli-'));
  const data = join(cwd, '.nimbus');
  let up: ChildProcess | undefined;
  t.after(() => {
    if (up?.exitCode === null) up.kill('SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
  });

  up = spawn(process.execPath, [BIN, 'up', '--port', '0'], {
    cwd,
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  up.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  up.stderr!.resume();
  const url = await waitFor(
    () => /Nimbus listening on (http:\/\/\S+)/.exec(out)?.[1],
    15_000,
    'nimbus up to listen',
  );
  await waitFor(
    () => /Admin token \(stored in .*admin-token, shown once\): nmb_/.test(out),
    5000,
    'the token line',
  );
  assert.match(
    out,
    /^isolation: (bubblewrap \d|none \().*, limits: \S.*$/m,
    'one line says which isolation is in force',
  );
  assert.ok(existsSync(join(data, 'nimbus.db')), 'the SQLite file is in the data dir');

  await t.test('new scaffolds a function that deploys as generated', async () => {
    const created = await nimbus(['new', 'hello', '--lang', 'ts'], cwd);
    assert.equal(created.code, 0, created.stderr);
    assert.ok(existsSync(join(cwd, 'functions/hello/index.ts')));
    assert.ok(existsSync(join(cwd, 'functions/hello/nimbus.yml')));
    const js = await nimbus(['new', 'hellojs', '--lang', 'js'], cwd);
    assert.equal(js.code, 0, js.stderr);
    const bad = await nimbus(['new', 'x', '--lang', 'cobol'], cwd);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ERR_CLI_USAGE: unknown --lang "cobol"/);
  });

  await t.test('deploy prints the URL; a second deploy is unchanged', async () => {
    const first = await nimbus(['deploy', 'functions/hello'], cwd);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.trim(), `deployed hello v1: ${url}/function/hello`);
    const second = await nimbus(['deploy', 'functions/hello'], cwd);
    assert.match(second.stdout, /hello v1 is unchanged/);
    const js = await nimbus(['deploy', 'functions/hellojs', '--json'], cwd);
    assert.equal(JSON.parse(js.stdout).name, 'hellojs');
  });

  await t.test('curl-style invoke and nimbus invoke', async () => {
    const res = await fetch(`${url}/function/hello`, { method: 'POST', body: 'world' });
    assert.deepEqual(await res.json(), { hello: 'world', path: '/' });
    const inv = await nimbus(['invoke', 'hello', '--data', '{"a":1}'], cwd);
    assert.equal(inv.code, 0, inv.stderr);
    assert.deepEqual(JSON.parse(inv.stdout), { hello: '{"a":1}', path: '/' });
  });

  await t.test('ls and describe, as a table and as JSON', async () => {
    const ls = await nimbus(['ls'], cwd);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^NAME\s+VERSION\s+RUNTIME\s+INSTANCES\s+INVOCATIONS/);
    assert.match(ls.stdout, /\nhello\s+1\s+node\s+\d+\s+2\s/);
    const json = JSON.parse((await nimbus(['ls', '--json'], cwd)).stdout) as { name: string }[];
    assert.deepEqual(json.map((f) => f.name).sort(), ['hello', 'hellojs']);
    const described = await nimbus(['describe', 'hello'], cwd);
    assert.match(described.stdout, /name: hello/);
    assert.match(described.stdout, /timeoutMs: 30000/);
  });

  await t.test('logs prints what a function wrote; --tail and --json', async () => {
    mkdirSync(join(cwd, 'functions/talker'), { recursive: true });
    writeFileSync(
      join(cwd, 'functions/talker/index.js'),
      "export default { fetch(req) { console.log('said ' + new URL(req.url).searchParams.get('w')); return new Response('ok'); } };\n",
    );
    assert.equal((await nimbus(['deploy', 'functions/talker'], cwd)).code, 0);
    for (const w of ['one', 'two']) assert.equal((await fetch(`${url}/function/talker?w=${w}`)).status, 200);
    let all = { code: -1, stdout: '', stderr: '' };
    await waitFor(
      async () => {
        all = await nimbus(['logs', 'talker'], cwd);
        return all.stdout.includes('said two');
      },
      10_000,
      'both lines in the log',
    );
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^\d{4}-\d\d-\d\dT\S+Z \S+ said one\n\S+ \S+ said two\n$/);
    const last = await nimbus(['logs', 'talker', '--tail', '1', '--json'], cwd);
    const lines = last.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]!).text, 'said two');
    // --follow: the past lines, then new ones as they are written, until stopped.
    const follow = spawn(process.execPath, [BIN, 'logs', 'talker', '--follow'], {
      cwd,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => follow.kill('SIGKILL'));
    let followed = '';
    follow.stdout!.on('data', (c: Buffer) => {
      followed += c.toString();
    });
    await waitFor(() => followed.includes('said two'), 10_000, 'the past lines');
    assert.equal((await fetch(`${url}/function/talker?w=three`)).status, 200);
    await waitFor(() => followed.includes('said three'), 10_000, 'a new line while following');
    follow.kill('SIGTERM');
    const missing = await nimbus(['logs', 'nobody'], cwd);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^ERR_FUNCTION_NOT_FOUND: /);
    const bad = await nimbus(['logs', 'talker', '--tail', 'x'], cwd);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ERR_CLI_USAGE: --tail takes a whole number/);
  });

  await t.test('errors are one coded line with a non-zero exit', async () => {
    let r = await nimbus(['invoke', 'missing'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_FUNCTION_NOT_FOUND: function "missing" does not exist/);
    r = await nimbus(['deploy', 'functions/nothing-here'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_BUILD_FAILED: build failed: folder functions\/nothing-here does not exist/);
    r = await nimbus(['frobnicate'], cwd);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^ERR_CLI_USAGE: unknown command "frobnicate"/);
    r = await nimbus(['ls', '--bogus'], cwd);
    assert.equal(r.code, 2);
    r = await nimbus(['ls', '--url', 'http://127.0.0.1:1'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_CLI_UNREACHABLE: cannot reach Nimbus at http:\/\/127.0.0.1:1/);
    r = await nimbus(['ls'], cwd, { NIMBUS_ADMIN_TOKEN: 'wrong-token-wrong-token' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERR_AUTH_INVALID/);
  });

  await t.test('rm removes the function', async () => {
    const r = await nimbus(['rm', 'hellojs'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await fetch(`${url}/function/hellojs`)).status, 404);
  });

  await t.test('SIGTERM: in-flight requests finish, every instance stops, the process exits 0', async () => {
    const pids = runnerChildren(up!.pid!);
    assert.ok(pids.length >= 1, 'instances are running');
    const exited = new Promise<number | null>((resolve) => up!.once('exit', (code) => resolve(code)));
    up!.kill('SIGTERM');
    assert.equal(await exited, 0);
    for (const pid of pids) assert.equal(isAlive(pid), false, `instance ${pid} is gone`);
    assert.equal(existsSync(join(data, 'gateway.json')), false);
    assert.match(readFileSync(join(data, 'admin-token'), 'utf8'), /^nmb_/);
  });
});
