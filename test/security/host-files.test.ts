// Other local users and the files Nimbus keeps on the host: a setuid binary in an uploaded bundle loses
// its bit (tar, zip, a source folder); a real unprivileged host user can list or read neither the run
// dir, the staged code, the bundle store nor the admin token; no process's command line names a host
// path of them; and the run dirs a crashed gateway left are swept at the next start.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tar from 'tar';
import { buildFunction } from '../../src/build/build.js';
import { hashBundleDir } from '../../src/build/bundle-hash.js';
import { ownerLine, RUN_DIR_OWNER_FILE } from '../../src/sandbox/run-dir.js';
import { noSandbox, startSecurePlatform } from './helpers.js';

const OTHER_USER = 'nimbus-test-other';

/** A real unprivileged host account (made with useradd when missing), or why there is none. */
function otherUser(): { uid: number; gid: number } | string {
  if (process.getuid?.() !== 0) return 'only root can act as another host user';
  const id = (flag: string): number => Number(execFileSync('id', [flag, OTHER_USER], { encoding: 'utf8' }));
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {}
  const made = spawnSync('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    OTHER_USER,
  ]);
  if (made.status !== 0) return `useradd ${OTHER_USER} failed: ${String(made.stderr).trim()}`;
  return { uid: id('-u'), gid: id('-g') };
}

/** Runs `sh -c script` as `user` (no supplementary groups): its exit code and output. */
function runAs(user: { uid: number; gid: number }, script: string): { code: number | null; output: string } {
  const r = spawnSync(
    'setpriv',
    [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '/bin/sh', '-c', script],
    { encoding: 'utf8', timeout: 10_000 },
  );
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Files under `dir` with a setuid or setgid bit. */
function privileged(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.mode & 0o6000) found.push(path);
    }
  };
  walk(dir);
  return found;
}

/** Command lines of this process's descendants. */
function descendantCommandLines(): string[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {}
  }
  const lines: string[] = [];
  for (const pid of parent.keys()) {
    let p: number | undefined = pid;
    while (p !== undefined && p > 1 && p !== process.pid) p = parent.get(p);
    if (p !== process.pid || pid === process.pid) continue;
    try {
      lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {}
  }
  return lines;
}

describe('other local users and the host’s files', { skip: noSandbox ?? false }, () => {
  it('a setuid binary arrives without its bit; another user reads no run dir, staged code, bundle or token', async (t) => {
    const user = otherUser();
    if (typeof user === 'string') return t.skip(user);
    const nimbus = await startSecurePlatform(t);
    const { platform } = nimbus;
    const work = mkdtempSync(join(tmpdir(), 'nimbus-setuid-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));

    // The attack as it came: a tar whose ELF is mode 04755 (and one 02755), uploaded as a bundle.
    const bundle = join(work, 'bundle');
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'index.mjs'), 'export default { fetch: () => new Response("staged") };\n');
    copyFileSync('/usr/bin/id', join(bundle, 'helper'));
    chmodSync(join(bundle, 'helper'), 0o4755);
    copyFileSync('/usr/bin/id', join(bundle, 'group-helper'));
    chmodSync(join(bundle, 'group-helper'), 0o2755);
    const archive = join(work, 'bundle.tgz');
    await tar.c({ gzip: true, cwd: bundle, file: archive }, ['index.mjs', 'helper', 'group-helper']);
    const listing = execFileSync('tar', ['-tvzf', archive], { encoding: 'utf8' });
    assert.match(listing, /^-rwsr-xr-x .* helper$/m, 'the archive does carry the setuid bit');
    const hash = await hashBundleDir(bundle);
    const put = await fetch(`${nimbus.url}/api/v1/bundles/${hash}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${platform.token}` },
      body: readFileSync(archive),
    });
    assert.equal(put.status, 201, await put.text());
    await nimbus.client.deploy('setuid', hash, {});
    assert.equal(await (await fetch(`${nimbus.url}/function/setuid`)).text(), 'staged');

    // A source folder (the CLI's build, and stack.yml's, which goes through it) is made plain alike.
    const folder = join(work, 'folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'nimbus.yml'), 'runtime: exec\ncommand: ./helper\n');
    copyFileSync('/usr/bin/id', join(folder, 'helper'));
    chmodSync(join(folder, 'helper'), 0o4755);
    const built = await buildFunction(folder, { outDir: join(work, 'built') });
    assert.deepEqual(privileged(built.bundleDir), [], 'the builder makes a bundle plain too');
    assert.equal(lstatSync(join(built.bundleDir, 'helper')).mode & 0o7777, 0o755);

    const runDir = platform.launcher.runDir;
    const storeDir = platform.artifacts.dir;
    assert.deepEqual(privileged(storeDir), [], 'nothing in the store keeps a setuid or setgid bit');
    assert.deepEqual(privileged(runDir), [], 'nothing staged does');
    assert.equal(lstatSync(join(storeDir, hash, 'helper')).mode & 0o7777, 0o755);

    // A real unprivileged host user, as `ps` would have shown it the paths.
    const staged = readdirSync(runDir)
      .map((name) => join(runDir, name, 'fn', 'index.mjs'))
      .filter((path) => existsSync(path));
    assert.ok(staged.length > 0, 'an instance has the bundle staged');
    for (const [what, script] of [
      ['list the run dir', `ls ${runDir}`],
      ['read staged code', `cat ${staged[0]}`],
      ['run a staged binary', `${join(staged[0]!, '..', 'helper')}`],
      ['list the bundle store', `ls ${storeDir}`],
      ['read a stored bundle', `cat ${join(storeDir, hash, 'index.mjs')}`],
      ['run a stored binary', join(storeDir, hash, 'helper')],
      ['read the admin token', `cat ${join(nimbus.dataDir, 'admin-token')}`],
    ] as const) {
      const r = runAs(user, script);
      assert.notEqual(r.code, 0, `uid ${user.uid} could ${what}: ${r.output}`);
      assert.match(r.output, /Permission denied/, `${what}: ${r.output}`);
    }
    for (const line of descendantCommandLines()) {
      for (const path of [runDir, nimbus.dataDir])
        assert.ok(!line.includes(path), `ps shows ${path}: ${line}`);
    }
    await nimbus.assertServing();
  });

  it('the run dirs of gateways that are gone are swept at start; a live one’s, or one without owner, stay', async (t) => {
    // A process that lived, and is gone: its owner line names a dead gateway.
    const child = spawn('sleep', ['30']);
    const deadOwner = ownerLine(child.pid!)!;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const base = tmpdir();
    const make = (owner: string | null): string => {
      const dir = mkdtempSync(join(base, 'nimbus-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      if (owner !== null) writeFileSync(join(dir, RUN_DIR_OWNER_FILE), `${owner}\n`);
      mkdirSync(join(dir, 'i1', 'fn'), { recursive: true });
      copyFileSync('/usr/bin/id', join(dir, 'i1', 'fn', 'helper'));
      chmodSync(join(dir, 'i1', 'fn', 'helper'), 0o4755);
      return dir;
    };
    const dead = make(deadOwner);
    const reused = make(`${process.pid} 1`);
    const live = make(ownerLine(process.pid));
    const unowned = make(null);
    const nimbus = await startSecurePlatform(t);
    assert.equal(existsSync(dead), false, 'a dead gateway’s run dir is gone');
    assert.equal(existsSync(reused), false, 'a pid now used by another process is no owner');
    assert.equal(existsSync(live), true, 'a live gateway’s run dir stays');
    assert.equal(existsSync(unowned), true, 'a dir without an owner file is not Nimbus’s to judge');
    // The new gateway's own run dir names it, and only its user may enter.
    const own = nimbus.platform.launcher.runDir;
    assert.equal(readFileSync(join(own, RUN_DIR_OWNER_FILE), 'utf8').trim(), ownerLine(process.pid));
    assert.equal(lstatSync(own).mode & 0o007, 0, 'no access for other users');
  });
});
