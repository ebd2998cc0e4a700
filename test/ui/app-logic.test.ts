// The dashboard's pure parts (src/ui/app): the command lines it offers to copy, read back by a real shell
// (hostile bodies and headers stay one literal word; the key comes from $NIMBUS_KEY, never spelled out), the
// scope checks that decide what it shows, and how it formats numbers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import {
  cliWords,
  curlCommand,
  functionCommands,
  type InvokeRequest,
  invokeCommand,
  shellQuote,
} from '../../src/ui/app/cli.js';
import { ms, percent, rate } from '../../src/ui/app/format.js';
import type { Whoami } from '../../src/ui/app/schemas.js';
import { may, mayInvoke } from '../../src/ui/app/scope.js';

/** The words `sh` makes of `command` once its first word is swapped for one that prints its arguments. */
function wordsOf(command: string, env: Record<string, string> = {}): string[] {
  const [, ...rest] = command.split(' ');
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${rest.join(' ')}`], {
    env: { PATH: process.env.PATH!, ...env },
  });
  return out.toString().split('\0').slice(0, -1);
}

const HOSTILE = [
  `it's`,
  `'; touch /tmp/pwned-by-dashboard; '`,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, meant literally
  '$(id) `id` $HOME ${PATH}',
  'a\nnew line',
  'back\\slash "double"',
  '*',
  '',
];

test('shellQuote: a real shell reads every word back as it was', () => {
  for (const word of [...HOSTILE, 'plain', 'with space', '-flag', '@alias', 'x=1']) {
    assert.deepEqual(wordsOf(`x ${shellQuote(word)}`), [word], JSON.stringify(word));
  }
});

test('invokeCommand and curlCommand: hostile bodies, headers and paths stay literal', () => {
  for (const text of HOSTILE.filter((t) => t !== '')) {
    const r: InvokeRequest = {
      name: 'hello',
      namespace: 'team-a',
      method: 'PUT',
      path: `/p?q=${text}`,
      headers: [['x-note', text]],
      body: text,
    };
    assert.deepEqual(wordsOf(invokeCommand(r)), [
      'invoke',
      'hello',
      '--namespace',
      'team-a',
      '-X',
      'PUT',
      '--path',
      `/p?q=${text}`,
      '-H',
      `x-note: ${text}`,
      '--data',
      text,
    ]);
    assert.deepEqual(wordsOf(curlCommand('http://127.0.0.1:8080', r)), [
      '-i',
      '-X',
      'PUT',
      `http://127.0.0.1:8080/function/hello.team-a/p?q=${text}`,
      '-H',
      `x-note: ${text}`,
      '--data-binary',
      text,
    ]);
  }
});

test('the commands for a request with a key read it from $NIMBUS_KEY', () => {
  const r: InvokeRequest = {
    name: 'hello',
    namespace: 'default',
    method: 'GET',
    path: '',
    headers: [],
    body: '',
  };
  assert.equal(invokeCommand(r), 'nimbus invoke hello');
  assert.deepEqual(wordsOf(invokeCommand({ ...r, withKey: true }), { NIMBUS_KEY: 'nmbk_x y' }), [
    'invoke',
    'hello',
    '--key',
    'nmbk_x y',
  ]);
  const curl = curlCommand('http://h', { ...r, withKey: true });
  assert.doesNotMatch(curl, /nmbk_/, 'the key itself is never in the text');
  assert.deepEqual(wordsOf(curl, { NIMBUS_KEY: 'nmbk_k' }), [
    '-i',
    '-X',
    'GET',
    'http://h/function/hello',
    '-H',
    'authorization: Bearer nmbk_k',
  ]);
  assert.equal(invokeCommand({ ...r, method: 'POST', body: '{}' }), "nimbus invoke hello --data '{}'");
});

test('function and namespace commands name the namespace unless it is the default one', () => {
  assert.equal(cliWords(['secret', 'ls'], 'default'), 'nimbus secret ls');
  assert.equal(cliWords(['secret', 'ls'], 'team-a'), 'nimbus secret ls --namespace team-a');
  assert.ok(functionCommands('hello', 'team-a').every((line) => line.includes('--namespace team-a')));
  assert.ok(functionCommands('hello', 'default').every((line) => !line.includes('--namespace')));
});

test('may and mayInvoke follow the gateway: scope rank, namespace, functions', () => {
  const key = (
    scope: Whoami['scope'],
    namespace = 'team-a',
    functions: Whoami['functions'] = '*',
  ): Whoami => ({
    id: 'k',
    scope,
    namespace,
    functions,
  });
  const admin: Whoami = { id: 'admin-token', scope: 'admin', namespace: '*', functions: '*' };
  assert.ok(may(admin, 'admin', 'anything', 'fn'));
  assert.ok(may(key('read'), 'read', 'team-a'));
  assert.ok(!may(key('read'), 'deploy', 'team-a'), 'read may not redrive or roll back');
  assert.ok(!may(key('deploy'), 'admin', 'team-a'), 'deploy sees no keys');
  assert.ok(!may(key('admin'), 'read', 'team-b'), 'not another namespace');
  assert.ok(may(key('read', 'team-a', ['a']), 'read', 'team-a', 'a'));
  assert.ok(!may(key('read', 'team-a', ['a']), 'read', 'team-a', 'b'), 'not another function');
  assert.ok(!may(key('invoke'), 'read', 'team-a'), 'an invoke key may not look');
  assert.ok(mayInvoke(key('invoke', 'team-a', ['a']), 'team-a', 'a'));
  assert.ok(!mayInvoke(key('read'), 'team-a', 'a'), 'a read key may not call');
  assert.ok(!mayInvoke(key('deploy'), 'team-b', 'a'));
});

test('numbers read as the dashboard shows them', () => {
  assert.equal(ms(null), '–');
  assert.equal(ms(0.5), '0.50 ms');
  assert.equal(ms(15), '15.0 ms');
  assert.equal(ms(150), '150 ms');
  assert.equal(ms(1500), '1.50 s');
  assert.equal(ms(15_000), '15.0 s');
  assert.equal(rate(0), '0/s');
  assert.equal(rate(0.05), '3.0/min');
  assert.equal(rate(2), '2.00/s');
  assert.equal(percent(1, 0), '–');
  assert.equal(percent(0, 10), '0%');
  assert.equal(percent(1, 3), '33%');
  assert.equal(percent(1, 10_000), '<0.1%');
});
