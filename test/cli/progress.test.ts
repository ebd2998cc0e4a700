// Progress of long steps through the real bin: `nimbus up`'s start-up phases, `nimbus deploy`'s build
// (npm's output among it) and upload with its bytes; plain lines off a terminal, a spinner on one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, startNimbusProcess } from '../helpers/nimbus-process.js';

const ESC = String.fromCharCode(27);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { PATH: process.env.PATH, ...env }, timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('long steps show progress: plain lines off a terminal, a spinner on one', async (t) => {
  const up = await startNimbusProcess(t);
  // Off a terminal: the start-up phases as plain lines.
  assert.match(up.output(), /^starting Nimbus…$/m);
  assert.match(up.output(), /^ {2}checking what isolation this host offers…$/m);
  assert.match(up.output(), /^ {2}restoring the deployed functions…$/m);
  assert.ok(!up.output().includes(ESC) && !up.output().includes('\r'), 'no terminal control off a terminal');

  const cwd = mkdtempSync(join(tmpdir(), 'nimbus-progress-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  // A dependency npm installs without the network (a folder beside the function).
  mkdirSync(join(cwd, 'shout-lib'));
  writeFileSync(
    join(cwd, 'shout-lib/package.json'),
    '{"name":"shout-lib","version":"1.0.0","main":"index.js"}\n',
  );
  writeFileSync(join(cwd, 'shout-lib/index.js'), 'module.exports = (s) => s.toUpperCase();\n');
  mkdirSync(join(cwd, 'shout'));
  writeFileSync(
    join(cwd, 'shout/package.json'),
    '{"name":"shout","version":"1.0.0","dependencies":{"shout-lib":"file:../shout-lib"}}\n',
  );
  writeFileSync(
    join(cwd, 'shout/index.js'),
    "const shout = require('shout-lib');\nexports.handler = async (event) => ({ statusCode: 200, body: shout(event.body ?? '') });\n",
  );
  const env = { NIMBUS_URL: up.url, NIMBUS_TOKEN: up.token, npm_config_cache: join(cwd, '.npm') };
  const plain = await run(process.execPath, [BIN, 'deploy', 'shout'], cwd, env);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /^bundling shout…$/m);
  assert.match(
    plain.stderr,
    /^node_modules is missing: running npm install --omit=dev .* in /m,
    'the install is said',
  );
  assert.match(
    plain.stderr,
    /^uploading bundle [0-9a-f]{12}: done \(\d+(\.\d)? [KM]?B, \d+ ms\)$/m,
    'bytes uploaded',
  );
  assert.match(plain.stdout, /^deployed shout v1: http:\/\/\S+\/function\/shout$/m);
  assert.ok(!plain.stderr.includes(ESC) && !plain.stderr.includes('\r'));

  // On a terminal (script(1) gives the command a pseudo-terminal): a spinner, then ✓ lines with results.
  writeFileSync(
    join(cwd, 'shout/index.js'),
    "const shout = require('shout-lib');\nexports.handler = async (event) => ({ statusCode: 200, body: shout(event.body ?? '') + '!' });\n",
  );
  const command = [process.execPath, BIN, 'deploy', 'shout'].map((a) => `'${a}'`).join(' ');
  const tty = await run('script', ['-qec', command, '/dev/null'], cwd, env);
  assert.equal(tty.code, 0, tty.stdout);
  assert.match(tty.stdout, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] bundling shout/, 'a spinner frame');
  assert.match(tty.stdout, /\[K✓ bundling shout \(\d+ ms\)/);
  assert.ok(tty.stdout.includes(`\r${ESC}[K✓ bundling shout`), 'the ✓ line replaces the spinner');
  assert.match(tty.stdout, /✓ uploading bundle [0-9a-f]{12} \(\d+(\.\d)? [KM]?B, \d+ ms\)/);
  assert.match(tty.stdout, /deployed shout v2: http:\/\/\S+\/function\/shout/);
});
