// The OpenWhisk API driven by the real `openwhisk` npm client: a key from the real `nimbus keys create`,
// Node actions from code and from zips, Python actions, blocking and non-blocking invokes, activations with
// their logs and results, failing actions, list, get, update, delete, and the __OW_* environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basic, keysCreate, owClient, owError, zip } from '../helpers/openwhisk.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

// OpenWhisk's wordcount.js as its docs give it: a top-level main, no exports.
const WORDCOUNT = `
function main(params) {
  var str = params.payload.toString();
  var words = str.split(" ");
  var count = words.length;
  console.log("The message '" + str + "' has", count, 'words');
  return { count: count };
}
`;

test('the OpenWhisk API with the openwhisk npm client', async (t) => {
  const nimbus = await startTestPlatform(t);
  const key = await keysCreate(nimbus.url, nimbus.platform.token, ['--scope', 'deploy']);
  const ow = owClient(nimbus.url, key);

  await t.test('a Node action from code: top-level main, blocking invoke with result', async () => {
    const created = await ow.actions.create({ name: 'wordcount', action: WORDCOUNT });
    assert.equal(created.name, 'wordcount');
    assert.equal(created.namespace, 'default');
    assert.equal(created.version, '0.0.1');
    assert.deepEqual(created.exec, { kind: 'nodejs:default', binary: false, code: WORDCOUNT });
    const result = await ow.actions.invoke({
      name: 'wordcount',
      blocking: true,
      result: true,
      params: { payload: 'to be or not to be' },
    });
    assert.deepEqual(result, { count: 6 });
  });

  await t.test(
    'create again without overwrite is 409; update replaces code, defaults merge under params',
    async () => {
      const conflict = await owError(ow.actions.create({ name: 'wordcount', action: WORDCOUNT }));
      assert.equal(conflict.statusCode, 409);
      assert.match(conflict.message, /resource already exists/);
      const updated = await ow.actions.update({
        name: 'wordcount',
        action: "exports.main = async ({ greeting, name }) => ({ text: greeting + ', ' + name + '!' });",
        kind: 'nodejs:20',
        params: { greeting: 'Hello', name: 'nobody' },
      });
      assert.equal(updated.version, '0.0.2');
      assert.deepEqual(updated.parameters, [
        { key: 'greeting', value: 'Hello' },
        { key: 'name', value: 'nobody' },
      ]);
      const result = await ow.actions.invoke({
        name: 'wordcount',
        blocking: true,
        result: true,
        params: { name: 'Ada' },
      });
      assert.deepEqual(result, { text: 'Hello, Ada!' });
    },
  );

  await t.test('Node code strings: exec.main names the function, ES module code, a Promise', async () => {
    await ow.actions.create({
      name: 'greeter',
      action: {
        exec: { kind: 'nodejs:18', main: 'greet', code: 'function greet(p) { return { hi: p.who }; }' },
      },
    });
    assert.deepEqual(
      await ow.actions.invoke({ name: 'greeter', blocking: true, result: true, params: { who: 'x' } }),
      {
        hi: 'x',
      },
    );
    assert.equal((await ow.actions.get({ name: 'greeter' })).exec.main, 'greet');
    await ow.actions.create({
      name: 'esm',
      action:
        "import { hostname } from 'node:os';\nexport async function main() { return { esm: typeof hostname() }; }\n",
    });
    assert.deepEqual(await ow.actions.invoke({ name: 'esm', blocking: true, result: true }), {
      esm: 'string',
    });
    const missing = await owError(
      ow.actions.create({ name: 'nomain', action: 'function other() { return {}; }' }),
    );
    assert.equal(missing.statusCode, 400);
    assert.match(missing.message, /Action entrypoint "main \(or the exec.main name\)" is not a function/);
  });

  await t.test(
    'Node actions from zips: package.json main, index.js, exec.main, with and without binary',
    async () => {
      const pkg = zip({
        'package.json': JSON.stringify({ name: 'app', main: 'lib/app.js' }),
        'lib/app.js':
          "const { shout } = require('./util');\nexports.main = (p) => ({ said: shout(p.word) });",
        'lib/util.js': 'exports.shout = (w) => String(w).toUpperCase();',
      });
      // The client sends a Buffer as base64 code without `binary`: Nimbus knows the zip by its content.
      await ow.actions.create({ name: 'zipped', action: pkg });
      assert.deepEqual(
        await ow.actions.invoke({ name: 'zipped', blocking: true, result: true, params: { word: 'hey' } }),
        {
          said: 'HEY',
        },
      );
      const got = await ow.actions.get({ name: 'zipped' });
      assert.equal(got.exec.binary, true);
      const index = zip({ 'index.js': 'exports.run = (p) => ({ sum: p.a + p.b });' });
      await ow.actions.create({
        name: 'indexed',
        action: { exec: { kind: 'nodejs:20', code: index.toString('base64'), binary: true, main: 'run' } },
      });
      assert.deepEqual(
        await ow.actions.invoke({ name: 'indexed', blocking: true, result: true, params: { a: 2, b: 3 } }),
        {
          sum: 5,
        },
      );
    },
  );

  await t.test('Python actions: main(args) from code and from a zip with __main__.py', async () => {
    await ow.actions.create({
      name: 'pyhello',
      kind: 'python:3',
      action:
        'def main(args):\n    name = args.get("name", "stranger")\n    print("greeting", name)\n    return {"greeting": "Hello " + name}\n',
    });
    assert.deepEqual(
      await ow.actions.invoke({ name: 'pyhello', blocking: true, result: true, params: { name: 'Grace' } }),
      {
        greeting: 'Hello Grace',
      },
    );
    const pyzip = zip({
      '__main__.py': 'import helper\n\ndef main(args):\n    return {"double": helper.double(args["n"])}\n',
      'helper.py': 'def double(n):\n    return 2 * n\n',
    });
    await ow.actions.create({ name: 'pyzip', kind: 'python:3.11', action: pyzip });
    assert.deepEqual(
      await ow.actions.invoke({ name: 'pyzip', blocking: true, result: true, params: { n: 21 } }),
      {
        double: 42,
      },
    );
  });

  await t.test('blocking invoke: the activation record, its logs and result', async () => {
    const activation = await ow.actions.invoke({
      name: 'pyhello',
      blocking: true,
      params: { name: 'Linus' },
    });
    assert.match(activation.activationId, /^[0-9a-f-]{36}$/);
    assert.equal(activation.name, 'pyhello');
    assert.equal(activation.namespace, 'default');
    assert.deepEqual(activation.response, {
      status: 'success',
      statusCode: 0,
      success: true,
      result: { greeting: 'Hello Linus' },
      size: JSON.stringify({ greeting: 'Hello Linus' }).length,
    });
    assert.ok(activation.end >= activation.start);
    assert.equal(activation.duration, activation.end - activation.start);
    const annotations = Object.fromEntries(
      activation.annotations.map((a: { key: string; value: unknown }) => [a.key, a.value]),
    );
    assert.equal(annotations.kind, 'python:3');
    assert.equal(annotations.path, 'default/pyhello');
    assert.equal(typeof annotations.waitTime, 'number');
    assert.deepEqual(annotations.limits, { timeout: 60_000, memory: 256, logs: 10, concurrency: 1 });
    assert.equal(activation.logs.length, 1);
    assert.match(activation.logs[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z stdout: greeting Linus$/);
    const logs = await ow.activations.logs({ activationId: activation.activationId });
    assert.deepEqual(logs, { logs: activation.logs });
    const result = await ow.activations.result({ activationId: activation.activationId });
    assert.deepEqual(result, {
      result: { greeting: 'Hello Linus' },
      success: true,
      status: 'success',
      statusCode: 0,
    });
  });

  await t.test('non-blocking invoke: 202 with an activation id, then poll the activation', async () => {
    const { activationId } = await ow.actions.invoke({ name: 'wordcount', params: { name: 'later' } });
    assert.match(activationId, /^[0-9a-f-]{36}$/);
    const activation = await waitFor(
      () =>
        ow.activations
          .get({ activationId })
          .catch((err: { statusCode: number }) => (err.statusCode === 404 ? undefined : Promise.reject(err))),
      30_000,
      'the non-blocking activation',
    );
    assert.equal(activation.activationId, activationId);
    assert.equal(activation.name, 'wordcount');
    assert.deepEqual(activation.response.result, { text: 'Hello, later!' });
    assert.equal(activation.response.success, true);
    const listed = await ow.activations.list({ name: 'wordcount', limit: 50 });
    assert.ok(listed.some((a: { activationId: string }) => a.activationId === activationId));
  });

  await t.test(
    'failing actions: {error} is an application error (502), a throw a developer error',
    async () => {
      await ow.actions.create({
        name: 'fails',
        action:
          "function main(p) { if (p.throw) throw new Error('boom'); console.error('refusing'); return { error: 'no way: ' + p.why }; }",
      });
      const app = await owError(
        ow.actions.invoke({ name: 'fails', blocking: true, params: { why: 'test' } }),
      );
      assert.equal(app.statusCode, 502);
      assert.match(app.message, /Returned HTTP 502 .* --> "no way: test"/);
      const record = app.error as { activationId: string; response: Record<string, unknown>; logs: string[] };
      assert.deepEqual(record.response, {
        status: 'application error',
        statusCode: 1,
        success: false,
        result: { error: 'no way: test' },
        size: JSON.stringify({ error: 'no way: test' }).length,
      });
      assert.match(record.logs[0]!, /stderr: refusing$/);
      // The client asks for the record and picks the result itself: on a 502 it rejects with the record.
      const viaClient = await owError(
        ow.actions.invoke({ name: 'fails', blocking: true, result: true, params: { why: 'r' } }),
      );
      assert.equal(viaClient.statusCode, 502);
      assert.deepEqual((viaClient.error as { response: { result: unknown } }).response.result, {
        error: 'no way: r',
      });
      // With ?result=true the server answers the result alone.
      const onlyResult = await fetch(
        `${nimbus.url}/api/v1/namespaces/_/actions/fails?blocking=true&result=true`,
        {
          method: 'POST',
          headers: {
            authorization: basic(key),
            'content-type': 'application/json',
          },
          body: JSON.stringify({ why: 'raw' }),
        },
      );
      assert.equal(onlyResult.status, 502);
      assert.match(onlyResult.headers.get('x-openwhisk-activation-id') ?? '', /^[0-9a-f-]{36}$/);
      assert.deepEqual(await onlyResult.json(), { error: 'no way: raw' });
      const thrown = await owError(
        ow.actions.invoke({ name: 'fails', blocking: true, params: { throw: true } }),
      );
      assert.equal(thrown.statusCode, 502);
      const dev = (thrown.error as { response: { status: string; result: { error: string } } }).response;
      assert.equal(dev.status, 'action developer error');
      assert.match(dev.result.error, /^An error has occurred: Error: boom/);
      // A Python exception is an application error carrying its text, as OpenWhisk's Python runtime does.
      await ow.actions.create({
        name: 'pyfails',
        kind: 'python:3',
        action: 'def main(args):\n    raise ValueError("bad value")\n',
      });
      const py = await owError(ow.actions.invoke({ name: 'pyfails', blocking: true }));
      assert.equal(py.statusCode, 502);
      const pyRecord = py.error as { response: { status: string; result: unknown }; logs: string[] };
      assert.equal(pyRecord.response.status, 'application error');
      assert.deepEqual(pyRecord.response.result, { error: 'bad value' });
      assert.ok(
        pyRecord.logs.some((l) => /stderr: ValueError: bad value$/.test(l)),
        'the traceback is in the logs',
      );
      const rec = await ow.activations.list({ name: 'fails', limit: 1, docs: true });
      assert.equal(rec[0].response.status, 'action developer error');
    },
  );

  await t.test('list, get with code, delete', async () => {
    const all = await ow.actions.list();
    const names = all.map((a: { name: string }) => a.name).sort();
    assert.deepEqual(names, [
      'esm',
      'fails',
      'greeter',
      'indexed',
      'pyfails',
      'pyhello',
      'pyzip',
      'wordcount',
      'zipped',
    ]);
    assert.equal(all[0].exec.code, undefined, 'lists carry no code');
    const page = await ow.actions.list({ skip: 2, limit: 2 });
    assert.deepEqual(
      page.map((a: { name: string }) => a.name),
      all.slice(2, 4).map((a: { name: string }) => a.name),
    );
    const py = await ow.actions.get({ name: 'pyhello' });
    assert.match(py.exec.code, /^def main\(args\):/);
    assert.equal(py.exec.kind, 'python:3');
    const deleted = await ow.actions.delete({ name: 'pyfails' });
    assert.equal(deleted.name, 'pyfails');
    const gone = await owError(ow.actions.get({ name: 'pyfails' }));
    assert.equal(gone.statusCode, 404);
    assert.match(gone.message, /The requested resource does not exist/);
    const invokeGone = await owError(ow.actions.invoke({ name: 'pyfails', blocking: true }));
    assert.equal(invokeGone.statusCode, 404);
  });

  await t.test("__OW_* values: per call and per function, the key is the function's own", async () => {
    await ow.actions.create({
      name: 'env',
      action: `function main(params, context) {
        const e = process.env;
        return { id: e.__OW_ACTIVATION_ID, deadline: Number(e.__OW_DEADLINE), name: e.__OW_ACTION_NAME, ns: e.__OW_NAMESPACE,
          host: e.__OW_API_HOST, key: e.__OW_API_KEY, ctxId: context.activationId, remaining: context.getRemainingTimeInMillis() };
      }`,
      limits: { timeout: 5000 },
    });
    const activation = await ow.actions.invoke({ name: 'env', blocking: true });
    const r = activation.response.result;
    assert.equal(r.id, activation.activationId);
    assert.equal(r.ctxId, activation.activationId);
    assert.ok(
      r.deadline > activation.start && r.deadline <= activation.start + 5000 + 50,
      `deadline ${r.deadline}`,
    );
    assert.ok(r.remaining > 0 && r.remaining <= 5000);
    assert.equal(r.name, '/default/env');
    assert.equal(r.ns, 'default');
    assert.equal(r.host, nimbus.url);
    const [id, secret] = String(r.key).split(':');
    const own = nimbus.platform.keys.ownedBy('fn:env');
    assert.equal(own.length, 1);
    assert.equal(id, own[0]!.id);
    assert.equal(own[0]!.scope, 'invoke');
    assert.equal(nimbus.platform.keys.verify(id!, secret!)?.id, id);
    assert.notEqual(secret, nimbus.platform.token);
    assert.notEqual(id, key.id);
  });
});
