// OpenWhisk namespaces are Nimbus namespaces: a key of team-a works in `_` = team-a (functions `name.team-a`),
// sees nothing of the default namespace and may not touch it; the same action name lives in both; web
// actions are addressed by the namespace's name; an action's own key and __OW_* name its namespace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keysCreate, owClient, owError } from '../helpers/openwhisk.js';
import { startTestPlatform } from '../helpers/platform.js';

const WHO = `function main(p) {
  return { ns: process.env.__OW_NAMESPACE, name: process.env.__OW_ACTION_NAME, who: p.who };
}`;

test('OpenWhisk namespaces are Nimbus namespaces', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, platform } = nimbus;
  const created = await fetch(`${url}/api/v1/namespaces`, {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'team-a' }),
  });
  assert.equal(created.status, 201);
  const teamKey = await keysCreate(url, platform.token, ['--scope', 'deploy', '--namespace', 'team-a']);
  const defaultKey = await keysCreate(url, platform.token, ['--scope', 'deploy']);
  const team = owClient(url, teamKey);
  const others = owClient(url, defaultKey);

  const made = await team.actions.create({ name: 'who', action: WHO, annotations: { 'web-export': true } });
  assert.equal(made.namespace, 'team-a');
  await others.actions.create({ name: 'who', action: WHO });
  assert.deepEqual(
    await team.actions.invoke({ name: 'who', blocking: true, result: true, params: { who: 'a' } }),
    {
      ns: 'team-a',
      name: '/team-a/who',
      who: 'a',
    },
  );
  assert.deepEqual(await others.actions.invoke({ name: 'who', blocking: true, result: true }), {
    ns: 'default',
    name: '/default/who',
  });
  // Named explicitly, and seen as the native API sees it.
  const byName = await team.actions.get({ name: '/team-a/who' });
  assert.equal(byName.name, 'who');
  const native = await fetch(`${url}/api/v1/functions/who?namespace=team-a`, {
    headers: { authorization: `Bearer ${platform.token}` },
  });
  assert.equal(((await native.json()) as { namespace: string }).namespace, 'team-a');
  const viaHttp = await fetch(`${url}/function/who.team-a?who=http`);
  assert.equal(((await viaHttp.json()) as { who: string }).who, 'http');
  const web = await fetch(`${url}/api/v1/web/team-a/default/who.json?who=web`);
  assert.deepEqual(await web.json(), { ns: 'team-a', name: '/team-a/who', who: 'web' });
  assert.equal(
    (await fetch(`${url}/api/v1/web/_/default/who.json`)).status,
    404,
    '_ is the default namespace there',
  );

  // Each key reaches its own namespace only.
  assert.deepEqual(
    (await team.actions.list()).map((a: { name: string; namespace: string }) => `${a.namespace}/${a.name}`),
    ['team-a/who'],
  );
  const foreign = await owError(team.actions.invoke({ name: '/default/who', blocking: true }));
  assert.equal(foreign.statusCode, 403);
  // A namespace out of the key's reach is refused whether it exists or not (test/security/redteam-http.test.ts).
  const unknown = await owError(team.actions.list({ namespace: 'team-b' }));
  assert.equal(unknown.statusCode, 403);
  assert.equal(unknown.error.code, 'ERR_AUTH_FORBIDDEN');

  // Activations, triggers and rules are per namespace too.
  const { activationId } = await team.actions.invoke({ name: 'who', params: { who: 'later' } });
  const otherSide = await owError(others.activations.get({ activationId }));
  assert.equal(otherSide.statusCode, 404);
  await team.triggers.create({ name: 'tick' });
  await team.rules.create({ name: 'on-tick', trigger: 'tick', action: 'who' });
  assert.deepEqual(await others.triggers.list(), []);
  const fired = await team.triggers.invoke({ name: 'tick', params: { who: 'rule' } });
  assert.match(fired.activationId, /^[0-9a-f-]{36}$/);

  // The action's own key belongs to its namespace.
  const own = platform.keys.ownedBy('fn:who.team-a');
  assert.equal(own.length, 1);
  assert.equal(own[0]!.namespace, 'team-a');
});
