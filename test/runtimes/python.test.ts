// runtime: python over real HTTP through the gateway: both handler styles, binary bodies, errors, timeouts,
// crashes, concurrency on threads, requirements.txt through pip (for exec and http programs too, with the
// instances' own interpreter), Python folders told apart, and a missing interpreter at deploy.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { findExecutable, pathWithNode } from '../../src/runtimes/runtime.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';
import { copyFixture, makeWheel, timed } from '../helpers/runtimes.js';

test('python runtime', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url } = nimbus;
  await Promise.all([nimbus.deploy('python-openfaas', 'py'), nimbus.deploy('python-lambda', 'pyl')]);

  await t.test('OpenFaaS style: hello', async () => {
    const res = await fetch(`${url}/function/py/hello`, { method: 'POST', body: 'world' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello world');
  });

  await t.test('OpenFaaS style: a binary body comes back byte for byte', async () => {
    const bytes = new Uint8Array(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    const res = await fetch(`${url}/function/py/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test('OpenFaaS style: status, headers, query, request headers, env, cwd', async () => {
    const res = await fetch(`${url}/function/py/status?a=1&a=2`, { headers: { 'x-test': 'v' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.method, 'GET');
    assert.equal(body.a, '1');
    assert.deepEqual(body.all, ['1', '2']);
    assert.equal(body.header, 'v');
    assert.equal(body.env, 'hi');
    assert.match(String(body.cwd), /^\/fn$|bundles\/[0-9a-f]{64}$/, 'runs in its bundle directory');
  });

  await t.test('OpenFaaS style: an exception is a coded 500 naming it', async () => {
    const res = await fetch(`${url}/function/py/error`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'ERR_HANDLER_FAILED');
    assert.match(body.error.message, /ValueError: bad input from the handler/);
  });

  await t.test('concurrency > 1: requests run at once on one process', async () => {
    await fetch(`${url}/function/py/id`);
    const { ms, value } = await timed(() =>
      Promise.all(
        Array.from({ length: 4 }, async () => {
          const res = await fetch(`${url}/function/py/sleep?s=0.4`);
          assert.equal(res.status, 200);
          return res.text();
        }),
      ),
    );
    assert.equal(new Set(value).size, 1, `one instance served all four: ${value}`);
    assert.ok(ms < 1200, `four 400 ms sleeps overlapped (${Math.round(ms)} ms)`);
  });

  await t.test('a handler past timeoutMs gives 504 and a new process serves next', async () => {
    const before = await (await fetch(`${url}/function/py/id`)).text();
    const res = await fetch(`${url}/function/py/hang`);
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_HANDLER_TIMEOUT');
    // The next calls are served by a new process (the old one, stuck in its handler, was killed).
    await waitFor(
      async () => {
        const after = await fetch(`${url}/function/py/id`);
        return after.status === 200 && (await after.text()) !== before;
      },
      30_000,
      'a new process to serve py',
    );
  });

  await t.test('a process that exits mid-request is a 502, and the next request is served', async () => {
    const res = await fetch(`${url}/function/py/crash`);
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_INSTANCE_CRASHED');
    assert.equal((await fetch(`${url}/function/py/id`)).status, 200);
  });

  await t.test('Lambda style: payload 2.0 event and context', async () => {
    const res = await fetch(`${url}/function/pyl/event?a=1&a=2`, {
      method: 'POST',
      body: '{"k":"v"}',
      headers: { 'content-type': 'application/json', cookie: 's=1; t=2' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const { event, remaining, fn } = (await res.json()) as {
      event: {
        version: string;
        rawPath: string;
        rawQueryString: string;
        queryStringParameters: Record<string, string>;
        cookies: string[];
        requestContext: { http: { method: string } };
        body: string;
        isBase64Encoded: boolean;
      };
      remaining: boolean;
      fn: string;
    };
    assert.equal(event.version, '2.0');
    assert.equal(event.rawPath, '/event');
    assert.equal(event.rawQueryString, 'a=1&a=2');
    assert.deepEqual(event.queryStringParameters, { a: '1,2' });
    assert.deepEqual(event.cookies, ['s=1', 't=2']);
    assert.equal(event.requestContext.http.method, 'POST');
    assert.equal(event.body, '{"k":"v"}');
    assert.equal(event.isBase64Encoded, false);
    assert.equal(remaining, true);
    assert.equal(fn, 'pyl');
  });

  await t.test('Lambda style: status, headers, cookies; inferred results', async () => {
    let res = await fetch(`${url}/function/pyl/status`, { method: 'POST', body: 'it' });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('x-lambda'), 'py');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(await res.text(), 'made it');
    res = await fetch(`${url}/function/pyl/other`);
    assert.deepEqual(await res.json(), { message: 'inferred' });
  });

  await t.test('Lambda style: binary in as base64, binary out via isBase64Encoded', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 254, 10, 13]);
    const res = await fetch(`${url}/function/pyl/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test('Lambda style: errors and concurrent async handlers', async () => {
    const res = await fetch(`${url}/function/pyl/error`);
    assert.equal(res.status, 500);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /KeyError: 'missing'/);
    const { ms } = await timed(() =>
      Promise.all(Array.from({ length: 4 }, () => fetch(`${url}/function/pyl/sleep`).then((r) => r.text()))),
    );
    assert.ok(ms < 1000, `four async 300 ms sleeps overlapped (${Math.round(ms)} ms)`);
  });

  await t.test('requirements.txt is installed into the bundle with pip', async (t) => {
    const dir = copyFixture(t, 'python-openfaas');
    const wheel = makeWheel(join(dir, 'wheels'), 'greet', 'def greet(who):\n    return "hello " + who\n');
    writeFileSync(join(dir, 'requirements.txt'), `./wheels/${wheel}\n`);
    await nimbus.deploy(dir, 'pydeps');
    const res = await fetch(`${url}/function/pydeps/dep`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello pip');
  });

  await t.test(
    'a failing pip install, or no python for pip, is ERR_BUILD_PIP_FAILED with the reason',
    async (t) => {
      const dir = copyFixture(t, 'python-openfaas');
      writeFileSync(join(dir, 'requirements.txt'), './wheels/absent-1.0-py3-none-any.whl\n');
      await assert.rejects(buildFunction(dir), (err: { code?: string; message: string }) => {
        assert.equal(err.code, 'ERR_BUILD_PIP_FAILED');
        assert.match(err.message, /absent-1\.0-py3-none-any\.whl/);
        return true;
      });
      await assert.rejects(
        buildFunction(dir, { python: 'python3-nimbus-absent' }),
        (err: { code?: string; message: string }) => {
          assert.equal(err.code, 'ERR_BUILD_PIP_FAILED');
          assert.match(err.message, /python3-nimbus-absent was not found/);
          return true;
        },
      );
    },
  );

  await t.test('a handler that is not there fails the build, or the deploy with a coded error', async (t) => {
    const dir = copyFixture(t, 'python-openfaas');
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: python\nhandler: nosuch.handle\n');
    await assert.rejects(buildFunction(dir), { code: 'ERR_BUILD_FAILED', message: /no nosuch\.py/ });
    await assert.rejects(nimbus.deploy('python-openfaas', 'pybad', { handler: 'handler.nosuch' }), {
      code: 'ERR_FUNCTION_LOAD_FAILED',
      message: /has no function nosuch/,
    });
  });
});

test('python: a missing interpreter is a coded error at deploy that names it', async (t) => {
  const nimbus = await startTestPlatform(t, { python: 'python3-nimbus-absent' });
  await assert.rejects(nimbus.deploy('python-openfaas', 'py'), (err: { code?: string; message: string }) => {
    assert.equal(err.code, 'ERR_RUNTIME_MISSING');
    assert.match(err.message, /python3-nimbus-absent/);
    return true;
  });
});

test('python dependencies: requirements.txt for exec and http too, with the interpreter instances run', async (t) => {
  const nimbus = await startTestPlatform(t);
  const python = findExecutable('python3', pathWithNode());
  assert.ok(python, 'python3 is on the instances PATH');

  const withGreet = (dir: string): void => {
    const wheel = makeWheel(join(dir, 'wheels'), 'greet', GREET, { 'greet-cli': 'greet:main' });
    writeFileSync(join(dir, 'requirements.txt'), `# offline: a wheel built by the test\n./wheels/${wheel}\n`);
  };

  await t.test('exec: a Python program imports the packages; a console script is on PATH', async (t) => {
    const dir = tempFolder(t, 'exec');
    withGreet(dir);
    writeFileSync(
      join(dir, 'run.py'),
      'import sys\nimport greet\nprint(greet.greet(sys.stdin.read()) + " " + sys.executable)\n',
    );
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: exec\ncommand: python3 run.py\n');
    const lines: string[] = [];
    const built = await buildFunction(dir, { log: (l) => lines.push(l) });
    t.after(() => rmSync(built.bundleDir, { recursive: true, force: true }));
    assert.deepEqual(lines, [`installing requirements.txt with ${python} -m pip`]);
    await nimbus.client.uploadBundle(built);
    await nimbus.client.deploy('pyexec', built.hash, built.spec);
    let res = await fetch(`${nimbus.url}/function/pyexec`, { method: 'POST', body: 'exec' });
    assert.equal(res.status, 200);
    assert.equal(
      await res.text(),
      `hello exec ${python}\n`,
      'pip ran with the python that runs the function',
    );

    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: exec\ncommand: greet-cli\n');
    await nimbus.deploy(dir, 'pyexec-cli');
    res = await fetch(`${nimbus.url}/function/pyexec-cli`, { method: 'POST', body: 'script' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello script\n');
  });

  await t.test('http: a Python server imports the packages', async (t) => {
    const dir = tempFolder(t, 'http');
    withGreet(dir);
    writeFileSync(join(dir, 'server.py'), HTTP_SERVER);
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: http\ncommand: python3 server.py\n');
    await nimbus.deploy(dir, 'pyhttp');
    const res = await fetch(`${nimbus.url}/function/pyhttp/web`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello /web');
  });

  await t.test('an empty or comments-only requirements.txt runs no pip', async (t) => {
    const dir = copyFixture(t, 'python-openfaas');
    writeFileSync(join(dir, 'requirements.txt'), '# nothing yet\n\n   # indented comment\n');
    // No interpreter could run pip: the build succeeds only because pip is not run at all.
    const built = await buildFunction(dir, { python: 'python3-nimbus-absent' });
    rmSync(built.bundleDir, { recursive: true, force: true });
    writeFileSync(join(dir, 'requirements.txt'), '');
    const empty = await buildFunction(dir, { python: 'python3-nimbus-absent' });
    rmSync(empty.bundleDir, { recursive: true, force: true });
    writeFileSync(join(dir, 'requirements.txt'), '# a comment\nrequests  # and one after\n');
    await assert.rejects(buildFunction(dir, { python: 'python3-nimbus-absent' }), {
      code: 'ERR_BUILD_PIP_FAILED',
    });
  });

  await t.test('a folder holding only handler.py, main.py or app.py is a Python function', async (t) => {
    const only = async (file: string, source: string) => {
      const dir = tempFolder(t, 'detect');
      writeFileSync(join(dir, file), source);
      const built = await buildFunction(dir);
      rmSync(built.bundleDir, { recursive: true, force: true });
      return built.spec;
    };
    assert.deepEqual(await only('handler.py', 'def handle(event, context):\n    return "x"\n'), {
      runtime: 'python',
      handler: 'handler.handle',
    });
    assert.deepEqual(
      await only('main.py', 'import json\n\nasync def main(event, context):\n    return 1\n'),
      {
        runtime: 'python',
        handler: 'main.main',
      },
    );
    assert.deepEqual(await only('app.py', 'def lambda_handler(event, context):\n    return 1\n'), {
      runtime: 'python',
      handler: 'app.lambda_handler',
    });
    const both = tempFolder(t, 'detect');
    writeFileSync(join(both, 'app.py'), 'def handle(req):\n    return req\n');
    writeFileSync(join(both, 'index.js'), 'export default () => new Response("js");\n');
    const built = await buildFunction(both);
    rmSync(built.bundleDir, { recursive: true, force: true });
    assert.equal(built.spec.runtime, undefined, 'JS sources make it a Node function, as before');
  });
});

const GREET = `import sys


def greet(who):
    return "hello " + who.strip()


def main():
    print(greet(sys.stdin.read()))
`;

const HTTP_SERVER = `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import greet


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = greet.greet(self.path).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

function tempFolder(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nimbus-py-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
