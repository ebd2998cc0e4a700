// Versions and aliases: every deploy an immutable numbered version, rollback (instant, to the previous
// version or a given one), aliases with weighted traffic invoked at /function/{name}@{alias}, through the CLI
// and through Lambda's API with @aws-sdk/client-lambda (a 90/10 split over 1,000 calls lands within ±3%).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import {
  CreateAliasCommand,
  GetAliasCommand,
  InvokeCommand,
  LambdaClient,
  ListAliasesCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-lambda';
import { BIN } from '../helpers/nimbus-process.js';
import { startTestPlatform } from '../helpers/platform.js';

type Json = Record<string, any>;

function cli(
  url: string,
  token: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args, '--url', url, '--token', token],
      { env: { PATH: process.env.PATH }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('versions, rollback and aliases', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, platform, client } = nimbus;
  // Three versions of one function, told apart by GREETING.
  for (const greeting of ['one', 'two', 'three'])
    await nimbus.deploy('echo', 'greet', { environment: { GREETING: greeting }, concurrency: 8 });
  const greeting = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    const body = await res.text();
    assert.equal(res.status, 200, `${path}: ${body}`);
    return (JSON.parse(body) as Json).env as string;
  };

  await t.test('nimbus versions lists them; @N calls one', async () => {
    const out = await cli(url, platform.token, ['versions', 'greet', '--json']);
    assert.equal(out.code, 0, out.stderr);
    const view = JSON.parse(out.stdout) as Json;
    assert.equal(view.current, 3);
    assert.deepEqual(
      view.versions.map((v: Json) => [v.version, v.current]),
      [
        [1, false],
        [2, false],
        [3, true],
      ],
    );
    assert.equal(await greeting('/function/greet'), 'three');
    assert.equal(await greeting('/function/greet@1'), 'one');
    const missing = await fetch(`${url}/function/greet@9`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as Json).error.code, 'ERR_VERSION_NOT_FOUND');
  });

  await t.test(
    'rollback goes to the previous version at once, or to --to; a deploy after is a new number',
    async () => {
      let out = await cli(url, platform.token, ['rollback', 'greet']);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(await greeting('/function/greet'), 'two');
      out = await cli(url, platform.token, ['rollback', 'greet', '--to', '1']);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(await greeting('/function/greet'), 'one');
      out = await cli(url, platform.token, ['rollback', 'greet', '--to', '7']);
      assert.match(out.stderr, /ERR_VERSION_NOT_FOUND/);
      const fn = await nimbus.deploy('echo', 'greet', { environment: { GREETING: 'four' }, concurrency: 8 });
      assert.equal(fn.version, 4, 'one past the highest, not past the current');
      assert.equal(await greeting('/function/greet'), 'four');
    },
  );

  await t.test('an alias with a weight splits its calls; bad aliases are refused', async () => {
    let out = await cli(url, platform.token, ['alias', 'set', 'greet', 'live', '2', '--weight', '3=25']);
    assert.equal(out.code, 0, out.stderr);
    const seen: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const g = await greeting('/function/greet@live');
      seen[g] = (seen[g] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(seen).sort(), ['three', 'two']);
    assert.ok(seen.three! > 20 && seen.three! < 80, `about 25% to version 3: ${JSON.stringify(seen)}`);
    out = await cli(url, platform.token, ['alias', 'ls', 'greet', '--json']);
    assert.deepEqual(
      (JSON.parse(out.stdout) as Json[]).map((a) => [a.name, a.version, a.weights]),
      [['live', 2, { 3: 25 }]],
    );
    for (const args of [
      ['alias', 'set', 'greet', '42', '1'],
      ['alias', 'set', 'greet', 'x', '9'],
      ['alias', 'set', 'greet', 'x', '1', '--weight', '2=70', '--weight', '3=40'],
      ['alias', 'set', 'greet', 'x', '1', '--weight', '1=10'],
    ]) {
      out = await cli(url, platform.token, args);
      assert.notEqual(out.code, 0, args.join(' '));
      assert.match(out.stderr, /ERR_(ALIAS_INVALID|VERSION_NOT_FOUND)/, args.join(' '));
    }
    out = await cli(url, platform.token, ['alias', 'rm', 'greet', 'live']);
    assert.equal(out.code, 0, out.stderr);
    const gone = await fetch(`${url}/function/greet@live`);
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as Json).error.code, 'ERR_ALIAS_NOT_FOUND');
  });

  await t.test(
    "Lambda's versions and aliases with @aws-sdk/client-lambda: a 90/10 split within ±3%",
    async () => {
      const key = await client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
        scope: 'admin',
      });
      const lambda = new LambdaClient({
        endpoint: url,
        region: 'us-east-1',
        maxAttempts: 1,
        credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
      });
      t.after(() => lambda.destroy());
      const published = await lambda.send(new PublishVersionCommand({ FunctionName: 'greet' }));
      assert.equal(published.Version, '4');
      const versions = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'greet' }));
      assert.deepEqual(
        versions.Versions?.map((v) => v.Version),
        ['$LATEST', '1', '2', '3', '4'],
      );
      await lambda.send(
        new CreateAliasCommand({
          FunctionName: 'greet',
          Name: 'canary',
          FunctionVersion: '1',
          RoutingConfig: { AdditionalVersionWeights: { '2': 0.1 } },
        }),
      );
      const alias = await lambda.send(new GetAliasCommand({ FunctionName: 'greet', Name: 'canary' }));
      assert.equal(alias.FunctionVersion, '1');
      assert.deepEqual(alias.RoutingConfig?.AdditionalVersionWeights, { 2: 0.1 });
      const executed: Record<string, number> = {};
      const calls = 1000;
      for (let i = 0; i < calls; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, () =>
            lambda.send(
              new InvokeCommand({ FunctionName: 'greet', Qualifier: 'canary', Payload: Buffer.from('{}') }),
            ),
          ),
        );
        for (const out of batch) executed[out.ExecutedVersion!] = (executed[out.ExecutedVersion!] ?? 0) + 1;
      }
      t.diagnostic(`executed versions over ${calls} calls: ${JSON.stringify(executed)}`);
      assert.deepEqual(Object.keys(executed).sort(), ['1', '2']);
      const share = executed['2']! / calls;
      assert.ok(Math.abs(share - 0.1) <= 0.03, `version 2 took ${(share * 100).toFixed(1)}% (90/10 ± 3%)`);
      await lambda.send(new UpdateAliasCommand({ FunctionName: 'greet', Name: 'canary', RoutingConfig: {} }));
      const aliases = await lambda.send(new ListAliasesCommand({ FunctionName: 'greet' }));
      assert.deepEqual(
        aliases.Aliases?.map((a) => [a.Name, a.FunctionVersion, a.RoutingConfig]),
        [['canary', '1', undefined]],
      );
      const plain = await lambda.send(
        new InvokeCommand({ FunctionName: 'greet:canary', Payload: Buffer.from('{}') }),
      );
      assert.equal(plain.ExecutedVersion, '1');
    },
  );
});
