// OpenWhisk actions inside the instance sandbox (bubblewrap where the host has it): the Python runner finds
// its OpenWhisk style beside it, and an action reaches the gateway with its own __OW_API_KEY to call another.
// A function with `network: false` has only its own loopback: the gateway is not there to call back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keysCreate, owClient, owError } from '../helpers/openwhisk.js';
import { startTestPlatform } from '../helpers/platform.js';
import { noSandbox } from '../security/helpers.js';

test('OpenWhisk actions in the sandbox', { skip: noSandbox ?? false }, async (t) => {
  const nimbus = await startTestPlatform(t, { sandbox: 'required' });
  const key = await keysCreate(nimbus.url, nimbus.platform.token, ['--scope', 'deploy']);
  const ow = owClient(nimbus.url, key);
  await ow.actions.create({
    name: 'py',
    kind: 'python:3',
    action:
      'import os\n\ndef main(args):\n    return {"id": os.environ["__OW_ACTIVATION_ID"], "cwd": os.getcwd()}\n',
  });
  const record = await ow.actions.invoke({ name: 'py', blocking: true });
  assert.equal(record.response.result.id, record.activationId);
  await ow.actions.create({ name: 'target', action: 'function main(p) { return { twice: 2 * p.n }; }' });
  await nimbus.deploy('ow-caller');
  const called = await ow.actions.invoke({
    name: 'ow-caller',
    blocking: true,
    result: true,
    params: { target: 'target', with: { n: 21 } },
  });
  assert.deepEqual(called, { via: '/default/ow-caller', result: { twice: 42 } });
  await nimbus.deploy('ow-caller', 'ow-offline', { network: false });
  const offline = await owError(
    ow.actions.invoke({ name: 'ow-offline', blocking: true, params: { target: 'target', with: { n: 1 } } }),
  );
  assert.equal(offline.statusCode, 502);
  assert.equal(offline.error.response.status, 'application error');
});
