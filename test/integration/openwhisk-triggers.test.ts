// Triggers, rules, the /whisk.system/alarms feed and sequences through the real `openwhisk` client: a fire
// runs each active rule's action (its activation caused by the trigger's), a disabled rule runs nothing, an
// alarm fires on Nimbus cron, a sequence chains its components and stops at the first failure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basic, keysCreate, owClient, owError } from '../helpers/openwhisk.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

const RECORD =
  "function main(params) { console.log('got', JSON.stringify(params)); return { got: params }; }";

test('triggers, rules, alarms and sequences with the openwhisk client', async (t) => {
  const nimbus = await startTestPlatform(t);
  const key = await keysCreate(nimbus.url, nimbus.platform.token, ['--scope', 'deploy']);
  const ow = owClient(nimbus.url, key);
  const activation = (activationId: string) =>
    waitFor(
      () =>
        ow.activations
          .get({ activationId })
          .catch((err: { statusCode: number }) => (err.statusCode === 404 ? undefined : Promise.reject(err))),
      30_000,
      `activation ${activationId}`,
    );
  await ow.actions.create({ name: 'record', action: RECORD });

  await t.test(
    'a trigger fired through a rule runs its action with the trigger parameters under the payload',
    async () => {
      const trigger = await ow.triggers.create({
        name: 'tick',
        trigger: {
          parameters: [
            { key: 'source', value: 'trigger' },
            { key: 'n', value: 0 },
          ],
        },
      });
      assert.equal(trigger.name, 'tick');
      const rule = await ow.rules.create({ name: 'on-tick', trigger: 'tick', action: 'record' });
      assert.equal(rule.status, 'active');
      assert.deepEqual(rule.trigger, { namespace: 'default', name: 'tick' });
      assert.deepEqual(rule.action, { namespace: 'default', name: 'record' });
      const fired = await ow.triggers.invoke({ name: 'tick', params: { n: 1 } });
      assert.match(fired.activationId, /^[0-9a-f-]{36}$/);
      const triggerActivation = await activation(fired.activationId);
      assert.equal(triggerActivation.name, 'tick');
      assert.deepEqual(triggerActivation.response.result, { source: 'trigger', n: 1 });
      assert.equal(triggerActivation.logs.length, 1);
      const ruleLog = JSON.parse(triggerActivation.logs[0]);
      assert.deepEqual(
        { ...ruleLog, activationId: typeof ruleLog.activationId },
        {
          statusCode: 0,
          success: true,
          activationId: 'string',
          rule: 'default/on-tick',
          action: 'default/record',
        },
      );
      const actionActivation = await activation(ruleLog.activationId);
      assert.equal(actionActivation.name, 'record');
      assert.equal(actionActivation.cause, fired.activationId);
      assert.deepEqual(actionActivation.response.result, { got: { source: 'trigger', n: 1 } });
      assert.match(actionActivation.logs[0], /stdout: got \{"source":"trigger","n":1\}$/);
    },
  );

  await t.test(
    'a disabled rule runs nothing (204), enabled again it does; trigger and rule records',
    async () => {
      const disabled = await ow.rules.disable({ name: 'on-tick' });
      assert.equal(disabled.status, 'inactive');
      const fire = () =>
        fetch(`${nimbus.url}/api/v1/namespaces/_/triggers/tick`, {
          method: 'POST',
          headers: { authorization: basic(key), 'content-type': 'application/json' },
          body: '{"n":2}',
        });
      const none = await fire();
      assert.equal(none.status, 204);
      assert.equal(await none.text(), '');
      await ow.rules.enable({ name: 'on-tick' });
      const again = await fire();
      assert.equal(again.status, 202);
      assert.match(again.headers.get('x-openwhisk-activation-id') ?? '', /^[0-9a-f-]{36}$/);
      const got = await ow.triggers.get({ name: 'tick' });
      assert.deepEqual(got.rules, {
        'default/on-tick': { action: { name: 'record', path: 'default' }, status: 'active' },
      });
      assert.deepEqual(got.parameters, [
        { key: 'source', value: 'trigger' },
        { key: 'n', value: 0 },
      ]);
      assert.deepEqual(
        (await ow.rules.list()).map((r: { name: string }) => r.name),
        ['on-tick'],
      );
      const missing = await owError(ow.rules.create({ name: 'dangling', trigger: 'nope', action: 'record' }));
      assert.equal(missing.statusCode, 404);
    },
  );

  await t.test('the alarms feed fires the trigger on Nimbus cron', async () => {
    const feed = await ow.feeds.create({
      name: '/whisk.system/alarms/alarm',
      trigger: 'tick',
      params: { cron: '* * * * * *', trigger_payload: { from: 'alarm' } },
    });
    assert.equal(feed.response.success, true);
    assert.equal(feed.response.result.schedule, '* * * * * *');
    const fromAlarm = await waitFor(
      async () => {
        const list = await ow.activations.list({ name: 'record', docs: true, limit: 50 });
        return list.find(
          (a: { response: { result: { got: { from?: string } } } }) => a.response.result.got.from === 'alarm',
        );
      },
      30_000,
      'an activation fired by the alarm',
    );
    assert.deepEqual(fromAlarm.response.result, { got: { source: 'trigger', n: 0, from: 'alarm' } });
    const read = await ow.feeds.get({ name: '/whisk.system/alarms/alarm', trigger: 'tick' });
    assert.equal(read.response.result.config.cron, '* * * * * *');
    assert.deepEqual((await ow.triggers.get({ name: 'tick' })).annotations, [
      { key: 'feed', value: '/whisk.system/alarms/alarm' },
    ]);
    await ow.feeds.delete({ name: '/whisk.system/alarms/alarm', trigger: 'tick' });
    assert.deepEqual((await ow.triggers.get({ name: 'tick' })).annotations, []);
    const bad = await owError(
      ow.feeds.create({ name: '/whisk.system/alarms/alarm', trigger: 'tick', params: { cron: 'every day' } }),
    );
    assert.equal(bad.statusCode, 400);
    assert.match(bad.message, /is not a schedule/);
  });

  await t.test('rules and triggers are deleted; a removed trigger is 404', async () => {
    await ow.rules.delete({ name: 'on-tick' });
    await ow.triggers.delete({ name: 'tick' });
    const gone = await owError(ow.triggers.get({ name: 'tick' }));
    assert.equal(gone.statusCode, 404);
    const fireGone = await owError(ow.triggers.invoke({ name: 'tick' }));
    assert.equal(fireGone.statusCode, 404);
  });

  await t.test('a sequence chains its components; a failing component stops it', async () => {
    await ow.actions.create({
      name: 'split',
      action: "function main(p) { return { words: String(p.text).split(' ') }; }",
    });
    await ow.actions.create({ name: 'count', action: 'function main(p) { return { n: p.words.length }; }' });
    await ow.actions.create({
      name: 'refuse',
      action: "function main(p) { return { error: 'refused ' + p.words[0] }; }",
    });
    const seq = await ow.actions.create({ name: 'wc', sequence: ['/_/split', '/_/count'] });
    assert.deepEqual(seq.exec, { kind: 'sequence', components: ['/_/split', '/_/count'], binary: false });
    const record = await ow.actions.invoke({ name: 'wc', blocking: true, params: { text: 'one two three' } });
    assert.deepEqual(record.response.result, { n: 3 });
    assert.equal(record.logs.length, 2);
    const first = await ow.activations.get({ activationId: record.logs[0] });
    assert.equal(first.name, 'split');
    assert.equal(first.cause, record.activationId);
    assert.deepEqual(first.response.result, { words: ['one', 'two', 'three'] });
    await ow.actions.create({ name: 'wc-fails', sequence: ['split', 'refuse', 'count'] });
    const failed = await owError(
      ow.actions.invoke({ name: 'wc-fails', blocking: true, params: { text: 'a b' } }),
    );
    assert.equal(failed.statusCode, 502);
    assert.equal(failed.error.response.status, 'application error');
    assert.deepEqual(failed.error.response.result, { error: 'refused a' });
    assert.equal(failed.error.logs.length, 2, 'count never ran');
    const { activationId } = await ow.actions.invoke({ name: 'wc', params: { text: 'x y' } });
    assert.deepEqual((await activation(activationId)).response.result, { n: 2 });
    const loop = await owError(ow.actions.update({ name: 'wc', sequence: ['/_/split', '/_/wc'] }));
    assert.equal(loop.statusCode, 400);
    const unknown = await owError(ow.actions.create({ name: 'wc2', sequence: ['/_/nothing'] }));
    assert.equal(unknown.statusCode, 400);
    assert.match(unknown.message, /Sequence component does not exist/);
    const listed = (await ow.actions.list()).map((a: { name: string }) => a.name).sort();
    assert.deepEqual(listed, ['count', 'record', 'refuse', 'split', 'wc', 'wc-fails']);
  });
});
