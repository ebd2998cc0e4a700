// The run directory: private, marked with its gateway, and swept once that gateway is gone.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createRunDir, ownerLine, RUN_DIR_OWNER_FILE, sweepRunDirs } from '../../src/sandbox/run-dir.js';

function base(t: TestContext): string {
  const dir = mkdtempSync('/var/tmp/nimbus-rundir-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('run directories', () => {
  it('a new one is 0700 and names its gateway by pid and start time', (t) => {
    const { dir } = createRunDir({ base: base(t) });
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const owner = readFileSync(join(dir, RUN_DIR_OWNER_FILE), 'utf8').trim();
    assert.equal(owner, ownerLine(process.pid));
    assert.match(owner, new RegExp(`^${process.pid} \\d+$`));
  });

  it('sweeps those of gateways that are gone, keeps the live, the unowned, the unreadable and others’', (t) => {
    const root = base(t);
    const alive = new Map([[100, '100 5555']]);
    const ownerOf = (pid: number): string | null => alive.get(pid) ?? null;
    const make = (name: string, owner: string | null): string => {
      const dir = join(root, name);
      mkdirSync(join(dir, 'i1'), { recursive: true });
      if (owner !== null) writeFileSync(join(dir, RUN_DIR_OWNER_FILE), `${owner}\n`);
      return dir;
    };
    const gone = make('nimbus-aaaaaa', '200 7777');
    const reused = make('nimbus-bbbbbb', '100 1234');
    const live = make('nimbus-cccccc', '100 5555');
    const unowned = make('nimbus-dddddd', null);
    const garbled = make('nimbus-eeeeee', 'not a pid');
    const notOurs = make('nimbus-test-ffffff', '200 7777');
    const uid = process.getuid?.() ?? 0;
    assert.deepEqual(sweepRunDirs(root, ownerOf, uid).sort(), [gone, reused].sort());
    for (const dir of [live, unowned, garbled, notOurs]) assert.ok(existsSync(dir), dir);
    // Another user's run directories are not this gateway's to judge.
    const other = make('nimbus-gggggg', '300 1');
    assert.deepEqual(sweepRunDirs(root, ownerOf, uid + 1), []);
    assert.ok(existsSync(other));
    // createRunDir sweeps first.
    const { swept } = createRunDir({ base: root, ownerOf, pid: 100 });
    assert.deepEqual(swept, [other]);
  });

  it('a pid that is not running has no owner line', () => {
    assert.equal(ownerLine(2 ** 22 + 12_345), null);
  });
});
