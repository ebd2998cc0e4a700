// What a deploy-scoped key can do with a deployment, tried from the attacker's side through the real gateway:
// OpenFaaS deploys that name another namespace's function or image, or another namespace in the query than
// in the body; archives whose entries imply more directories than the entry cap; Azure route templates whose
// regular expressions would hold the gateway's thread. Each attempt is kept as a test.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

/** A temp dir of the test's own, removed after it. */
function workDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-redteam-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Makes namespaces and a key of `scope` in `namespace`; the key's Authorization headers. */
async function keyIn(
  nimbus: TestPlatform,
  namespace: string,
  scope: 'deploy' | 'read' | 'admin' = 'deploy',
  functions?: string[],
): Promise<Record<string, string>> {
  const key = await nimbus.client.call<{ secret: string }>('POST', '/api/v1/keys', {
    scope,
    namespace,
    ...(functions ? { functions } : {}),
  });
  return { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' };
}

async function namespaces(nimbus: TestPlatform, ...names: string[]): Promise<void> {
  for (const name of names) await nimbus.client.call('POST', '/api/v1/namespaces', { name });
}

test('OpenFaaS deploys stay in the namespace the key may deploy to', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, client } = nimbus;
  await namespaces(nimbus, 'team-a', 'team-b');
  const victim = await nimbus.deploy('hello', 'victim');
  const teamB = await keyIn(nimbus, 'team-b');

  await t.test('a namespace in the query, none in the body, is where the deploy goes', async () => {
    // team-b's key, team-b in the query: the deploy must land in team-b, never in the default namespace.
    const res = await fetch(`${url}/system/functions?namespace=team-b`, {
      method: 'PUT',
      headers: teamB,
      body: JSON.stringify({ service: 'victim', image: `sha256:${victim.bundle}`, envVars: { PWNED: '1' } }),
    });
    const text = await res.text();
    assert.equal(res.status, 404, `an update of team-b's victim, which does not exist: ${text}`);
    const after = await client.get('victim');
    assert.equal(after.version, victim.version, 'the default namespace’s function is untouched');
    assert.deepEqual(after.spec.environment, {});
    const created = await fetch(`${url}/system/functions?namespace=team-b`, {
      method: 'POST',
      headers: teamB,
      body: JSON.stringify({ service: 'mine', image: `sha256:${victim.bundle}` }),
    });
    assert.equal(created.status, 202, await created.text());
    const mine = await fetch(`${url}/system/function/mine?namespace=team-b`, { headers: teamB });
    assert.equal(mine.status, 200, 'created in team-b, where the query said');
    assert.equal(
      (await client.call<{ functions: unknown[] }>('GET', '/api/v1/functions')).functions.length,
      1,
    );
  });

  await t.test('an image that names another namespace’s function or image is unknown', async () => {
    const deployB = await fetch(`${url}/system/functions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nimbus.platform.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'billing', namespace: 'team-b', image: `sha256:${victim.bundle}` }),
    });
    assert.equal(deployB.status, 202);
    // Its image annotation, as `nimbus deploy -f stack.yml` sets it: a guessable registry name.
    await client.call('PUT', '/api/v1/functions/billing?namespace=team-b', {
      bundle: victim.bundle,
      spec: { annotations: { 'nimbus.openfaas/image': 'ghcr.io/acme/billing:1.0' } },
    });
    const teamA = await keyIn(nimbus, 'team-a');
    for (const image of ['billing.team-b', 'ghcr.io/acme/billing:1.0', 'victim']) {
      const res = await fetch(`${url}/system/functions`, {
        method: 'POST',
        headers: teamA,
        body: JSON.stringify({ service: 'copy', namespace: 'team-a', image }),
      });
      const text = await res.text();
      assert.equal(res.status, 400, `${image}: ${text}`);
      assert.match(text, /^ERR_OPENFAAS_IMAGE_UNKNOWN/, image);
    }
    const list = await fetch(`${url}/system/functions?namespace=team-a`, { headers: teamA });
    assert.deepEqual(await list.json(), [], 'nothing was copied into team-a');
    // A key limited to one function of team-b does not copy another of team-b either.
    const onlyMine = await keyIn(nimbus, 'team-b', 'deploy', ['mine']);
    const res = await fetch(`${url}/system/functions`, {
      method: 'PUT',
      headers: onlyMine,
      body: JSON.stringify({ service: 'mine', namespace: 'team-b', image: 'billing' }),
    });
    assert.equal(res.status, 400, await res.text());
    // Its own namespace's image still deploys (the faas-cli workflow).
    const own = await fetch(`${url}/system/functions`, {
      method: 'PUT',
      headers: teamB,
      body: JSON.stringify({ service: 'mine', namespace: 'team-b', image: 'ghcr.io/acme/billing:1.0' }),
    });
    assert.equal(own.status, 200, await own.text());
  });

  await t.test('a key of one namespace learns nothing of another’s images before it is refused', async () => {
    const teamA = await keyIn(nimbus, 'team-a');
    const answers = new Set<string>();
    for (const image of ['ghcr.io/acme/billing:1.0', 'ghcr.io/acme/nothing:1.0']) {
      const res = await fetch(`${url}/system/functions`, {
        method: 'POST',
        headers: teamA,
        body: JSON.stringify({ service: 'copy', namespace: 'team-b', image }),
      });
      answers.add(`${res.status} ${(await res.text()).split(':')[0]}`);
    }
    assert.deepEqual([...answers], ['403 ERR_AUTH_FORBIDDEN']);
  });
});

void workDir;
