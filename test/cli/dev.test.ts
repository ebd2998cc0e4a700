// `nimbus dev` through the real bin: deploys a folder, redeploys on save, says build errors and keeps
// watching, prints the function's log lines with their call ids, attaches to a running gateway, and stops
// only what it started.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { BIN, startNimbusProcess } from '../helpers/nimbus-process.js';
import { isAlive, waitFor } from '../helpers/platform.js';

/** Generous: a busy 2-core machine builds, starts instances and runs other suites at once. */
const STEP_MS = 60_000;

interface Dev {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited, with its exit code. */
  exited: Promise<number | null>;
  /** Waits for `pattern` in stderr after the first `from` characters; returns the match. */
  waitErr(pattern: RegExp, from?: number, what?: string): Promise<RegExpExecArray>;
}

function startDev(t: TestContext, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Dev {
  const child = spawn(process.execPath, [BIN, 'dev', ...args], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitErr: (pattern, from = 0, what = String(pattern)) =>
      waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`nimbus dev exited (${child.exitCode}):\n${err}`);
          return pattern.exec(err.slice(from)) ?? undefined;
        },
        STEP_MS,
        what,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; stderr:\n${err}\nstdout:\n${out}`);
      }),
  };
}

/** Every process below `pid` (children, their children, ...), read from /proc. */
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
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

async function call(url: string): Promise<{ status: number; body: string; callId: string | null }> {
  const res = await fetch(url, { method: 'POST', body: 'x' });
  return { status: res.status, body: await res.text(), callId: res.headers.get('x-call-id') };
}

const handler = (answer: string) =>
  `export default {\n  async fetch(request: Request) {\n    console.log('serving ${answer}', request.method);\n    return new Response('${answer}');\n  },\n};\n`;

test('nimbus dev starts a gateway, redeploys on save, says build errors, prints logs with call ids, stops what it started', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nimbus-dev-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  mkdirSync(join(cwd, 'hello'));
  writeFileSync(join(cwd, 'hello/index.ts'), handler('one'));
  const data = join(cwd, '.nimbus');

  const dev = startDev(t, ['hello', '--port', '0'], cwd);
  const first = await dev.waitErr(/✓ deployed hello v1 in \d+ ms, [\d.]+ [KM]?B uploaded: (http:\/\/\S+)/);
  const url = first[1]!;
  assert.match(
    dev.stderr(),
    /^Nimbus listening on http:\/\/127\.0\.0\.1:\d+ \(data: .*; stops with nimbus dev\)$/m,
  );
  assert.match(
    dev.stderr(),
    /^uploading bundle [0-9a-f]{12}: done \([\d.]+ [KM]?B, \d+ ms\)$/m,
    'upload bytes said',
  );
  const gatewayFile = JSON.parse(readFileSync(join(data, 'gateway.json'), 'utf8')) as {
    url: string;
    pid: number;
  };
  assert.equal(gatewayFile.pid, dev.child.pid, 'other commands find the gateway dev started');
  await dev.waitErr(/watching hello for changes/);

  const v1 = await call(url);
  assert.equal(v1.status, 200);
  assert.equal(v1.body, 'one');
  assert.ok(v1.callId);
  await waitFor(
    () => dev.stdout().includes(`hello[call ${v1.callId}] serving one POST`),
    STEP_MS,
    `the log line with call id ${v1.callId}; stdout:\n${dev.stdout()}`,
  );

  // A save: rebuilt and swapped in.
  let mark = dev.stderr().length;
  writeFileSync(join(cwd, 'hello/index.ts'), handler('two'));
  await dev.waitErr(/✓ deployed hello v2 in \d+ ms/, mark, 'v2 deployed');
  const v2 = await call(url);
  assert.equal(v2.body, 'two');
  await waitFor(
    () => dev.stdout().includes(`hello[call ${v2.callId}] serving two POST`),
    STEP_MS,
    'v2 log line',
  );

  // A broken save: the error, with file and line, and dev keeps the last good version and watches on.
  mark = dev.stderr().length;
  writeFileSync(join(cwd, 'hello/index.ts'), 'export default {\n  async fetch( {\n');
  const broken = await dev.waitErr(
    /✗ hello: ERR_BUILD_FAILED: build failed: (index\.ts:\d+): .*/,
    mark,
    'the build error',
  );
  assert.match(broken[1]!, /^index\.ts:[23]$/);
  assert.equal((await call(url)).body, 'two', 'the last good version still answers');
  assert.ok(dev.child.exitCode === null, 'dev keeps running after a build error');

  // Fixed again.
  mark = dev.stderr().length;
  writeFileSync(join(cwd, 'hello/index.ts'), handler('three'));
  await dev.waitErr(/✓ deployed hello v3 in \d+ ms/, mark, 'v3 deployed');
  assert.equal((await call(url)).body, 'three');

  // Changes under node_modules and .git are not source changes.
  mark = dev.stderr().length;
  mkdirSync(join(cwd, 'hello/node_modules/x'), { recursive: true });
  writeFileSync(join(cwd, 'hello/node_modules/x/index.js'), 'module.exports = 1;\n');
  mkdirSync(join(cwd, 'hello/.git'));
  writeFileSync(join(cwd, 'hello/.git/HEAD'), 'ref: refs/heads/main\n');
  // A real change after them: the only rebuild it sees must be this one's.
  writeFileSync(join(cwd, 'hello/index.ts'), handler('four'));
  await dev.waitErr(/✓ deployed hello v4 in \d+ ms/, mark, 'v4 deployed');
  assert.doesNotMatch(
    dev.stderr().slice(mark),
    /node_modules|\.git/,
    'ignored paths are not named as changes',
  );

  // Ctrl-C: the gateway and its instances stop; gateway.json goes.
  const processes = descendants(dev.child.pid!);
  assert.ok(processes.length > 0, 'instances run below dev');
  dev.child.kill('SIGINT');
  assert.equal(await dev.exited, 0, dev.stderr());
  assert.match(dev.stderr(), /stopping the gateway nimbus dev started/);
  assert.ok(!existsSync(join(data, 'gateway.json')), 'gateway.json removed');
  await waitFor(() => processes.every((pid) => !isAlive(pid)), STEP_MS, 'every process dev started to end');
  await assert.rejects(fetch(url), 'nothing listens at the URL any more');
});

test('nimbus dev attaches to a running gateway (Python folder), and leaves it running', async (t) => {
  const up = await startNimbusProcess(t);
  const cwd = mkdtempSync(join(tmpdir(), 'nimbus-dev-py-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  mkdirSync(join(cwd, 'pyfn'));
  writeFileSync(
    join(cwd, 'pyfn/handler.py'),
    'def handle(event, context):\n    print("python says hi", flush=True)\n    return {"statusCode": 200, "body": "py one"}\n',
  );
  const dev = startDev(t, ['pyfn', '--data', up.dataDir], cwd);
  await dev.waitErr(/using the Nimbus at http:\/\/\S+ \(it keeps running after nimbus dev stops\)/);
  const deployed = await dev.waitErr(/✓ deployed pyfn v1 in \d+ ms[^:]*: (http:\/\/\S+)/);
  assert.ok(deployed[1]!.startsWith(up.url), 'deployed to the running gateway');
  const v1 = await call(deployed[1]!);
  assert.equal(v1.body, 'py one');
  await waitFor(
    () => dev.stdout().includes(`pyfn[call ${v1.callId}] python says hi`),
    STEP_MS,
    `the Python log line; stdout:\n${dev.stdout()}`,
  );

  // A save before the watchers are up would be missed, as in a user's terminal: wait until it says so.
  await dev.waitErr(/watching pyfn for changes/);
  const mark = dev.stderr().length;
  writeFileSync(
    join(cwd, 'pyfn/handler.py'),
    'def handle(event, context):\n    return {"statusCode": 200, "body": "py two"}\n',
  );
  await dev.waitErr(/✓ deployed pyfn v2 in \d+ ms/, mark, 'v2 deployed');
  assert.equal((await call(deployed[1]!)).body, 'py two');

  dev.child.kill('SIGINT');
  assert.equal(await dev.exited, 0, dev.stderr());
  assert.doesNotMatch(dev.stderr(), /stopping the gateway/);
  assert.ok(up.alive(), 'the gateway dev attached to is still running');
  assert.equal((await call(deployed[1]!)).body, 'py two', 'and still serves');
  assert.ok(existsSync(join(up.dataDir, 'gateway.json')), 'its gateway.json stays');
});

test('nimbus dev -f deploys every function of a stack file (OpenFaaS node and python3 templates)', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nimbus-dev-stack-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  mkdirSync(join(cwd, 'greet'));
  mkdirSync(join(cwd, 'shout'));
  writeFileSync(
    join(cwd, 'greet/handler.js'),
    "module.exports = async (event, context) => context.status(200).succeed('hello ' + event.query.name);\n",
  );
  writeFileSync(join(cwd, 'shout/handler.py'), 'def handle(req):\n    return req.upper()\n');
  writeFileSync(
    join(cwd, 'stack.yml'),
    'version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n  greet:\n    lang: node20\n    handler: ./greet\n  shout:\n    lang: python3\n    handler: ./shout\n',
  );
  const dev = startDev(t, ['-f', 'stack.yml', '--port', '0'], cwd);
  const greet = await dev.waitErr(/✓ deployed greet v1 in \d+ ms[^:]*: (http:\/\/\S+)/);
  const shout = await dev.waitErr(/✓ deployed shout v1 in \d+ ms[^:]*: (http:\/\/\S+)/);
  assert.equal(await (await fetch(`${greet[1]!}?name=ada`)).text(), 'hello ada');
  assert.equal(await (await fetch(shout[1]!, { method: 'POST', body: 'hi' })).text(), 'HI\n');

  const mark = dev.stderr().length;
  writeFileSync(
    join(cwd, 'greet/handler.js'),
    "module.exports = async (event, context) => context.status(200).succeed('hi ' + event.query.name);\n",
  );
  await dev.waitErr(/✓ deployed greet v2 in \d+ ms/, mark, 'greet v2 deployed');
  await dev.waitErr(/✓ shout v1 is unchanged/, mark, 'shout rebuilt, unchanged');
  assert.equal(await (await fetch(`${greet[1]!}?name=ada`)).text(), 'hi ada');
  dev.child.kill('SIGINT');
  assert.equal(await dev.exited, 0, dev.stderr());
});

test('nimbus dev refuses what it cannot watch or reach, with coded errors', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'nimbus-dev-bad-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  const missing = startDev(t, ['no-such-folder', '--port', '0'], cwd);
  assert.equal(await missing.exited, 1);
  assert.match(missing.stderr(), /^ERR_CLI_USAGE: .*no-such-folder is not a folder/m);

  const two = startDev(t, ['a', 'b'], cwd);
  assert.equal(await two.exited, 1);
  assert.match(two.stderr(), /^ERR_CLI_USAGE: name one folder/m);

  mkdirSync(join(cwd, 'f'));
  // A port nothing listens on: an explicit --url that does not answer is not silently replaced.
  const unreachable = startDev(t, ['f', '--url', 'http://127.0.0.1:9'], cwd);
  assert.equal(await unreachable.exited, 1);
  assert.match(unreachable.stderr(), /^ERR_CLI_UNREACHABLE: cannot reach Nimbus at http:\/\/127\.0\.0\.1:9/m);

  // A port taken: a coded error, and the process ends (nothing it started is left holding it open).
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const port = (holder.address() as AddressInfo).port;
  const taken = startDev(t, ['f', '--port', String(port)], cwd);
  assert.equal(await taken.exited, 1);
  assert.match(
    taken.stderr(),
    new RegExp(`^ERR_PLATFORM_LISTEN: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`, 'm'),
  );

  const badStack = startDev(t, ['-f', 'nope.yml'], cwd);
  assert.equal(await badStack.exited, 1);
  assert.match(badStack.stderr(), /^ERR_STACK_INVALID: /m);
});
