// `nimbus new --lang` scaffolds, through the real bin, a function in every language that deploys and
// answers as generated.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startTestPlatform } from '../helpers/platform.js';

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;
const LANGS = ['ts', 'js', 'python', 'bash', 'lambda-custom'];

test('nimbus new: every template deploys and answers as generated', async (t) => {
  const nimbus = await startTestPlatform(t);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-templates-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const lang of LANGS) {
    await t.test(lang, async () => {
      const name = `t-${lang}`;
      const { stdout } = await promisify(execFile)(process.execPath, [
        BIN,
        'new',
        name,
        '--lang',
        lang,
        '--dir',
        dir,
      ]);
      assert.match(stdout, new RegExp(`created .*${name}`));
      await nimbus.deploy(join(dir, name));
      const res = await fetch(`${nimbus.url}/function/${name}/x`, { method: 'POST', body: 'nimbus' });
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const body = (await res.json()) as { hello: string; path: string };
      assert.equal(body.hello, 'nimbus');
      assert.equal(body.path, '/x');
    });
  }
});
