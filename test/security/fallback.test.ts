// The unsandboxed fallback, with bubblewrap hidden from detection: a root Nimbus runs its instances as an
// unprivileged host user, which reads neither the data dir nor the admin token; where not even that is
// possible, instances do not start and Nimbus listens on loopback only, unless `sandbox: off` says to
// run them unsandboxed on purpose. The start line says which is in force.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { detectSandbox, type SandboxFeatures } from '../../src/sandbox/detect.js';
import { startTestPlatform } from '../helpers/platform.js';
import { copyFixture } from '../helpers/runtimes.js';
import { features } from './helpers.js';

/** What detection finds on this host with bubblewrap (only) uninstalled. */
async function withoutBubblewrap(t: TestContext): Promise<SandboxFeatures> {
  const bin = mkdtempSync(join(tmpdir(), 'nimbus-nobwrap-'));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  for (const tool of ['prlimit', 'setpriv', 'slirp4netns']) {
    const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => join(d, tool));
    for (const path of found) {
      try {
        symlinkSync(path, join(bin, tool));
        break;
      } catch {}
    }
  }
  const detected = await detectSandbox({}, { searchPath: [bin] });
  assert.equal(detected.bwrap, null);
  return detected;
}

describe('without bubblewrap', () => {
  it('a root Nimbus runs instances as an unprivileged user that reads neither the data dir nor the token', async (t) => {
    if (features.uid !== 0) return t.skip('only a root Nimbus can run instances as another user');
    if (!features.setprivPath) return t.skip('no setpriv (util-linux) here');
    const hidden = await withoutBubblewrap(t);
    const nimbus = await startTestPlatform(
      t,
      { sandbox: 'auto', startTimeoutMs: 60_000 },
      { sandboxFeatures: hidden },
    );
    assert.equal(nimbus.platform.sandbox.isolation, 'user');
    assert.match(
      nimbus.platform.sandbox.summary,
      /^isolation: an unprivileged host user only, no namespaces/,
    );
    assert.match(nimbus.platform.sandbox.summary, /network: the host's/);
    await nimbus.deploy('hostile', 'hostile');
    const read = async (path: string): Promise<string> =>
      (await fetch(`${nimbus.url}/function/hostile/read?path=${encodeURIComponent(path)}`)).text();
    for (const path of [
      nimbus.dataDir,
      join(nimbus.dataDir, 'admin-token'),
      join(nimbus.dataDir, 'nimbus.db'),
      nimbus.platform.artifacts.dir,
      `/proc/${process.pid}/environ`,
    ]) {
      assert.equal(await read(path), 'EACCES', `the function reads ${path}`);
    }
    const status = await (
      await fetch(`${nimbus.url}/function/hostile/read-all?path=/proc/self/status`)
    ).text();
    assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    assert.match(status, /^Groups:\s*$/m, 'no supplementary groups');
  });

  it('a root Nimbus’s instances, as that user, read their secrets and import the AWS SDK Nimbus provides', async (t) => {
    if (features.uid !== 0) return t.skip('only a root Nimbus can run instances as another user');
    if (!features.setprivPath) return t.skip('no setpriv (util-linux) here');
    const hidden = await withoutBubblewrap(t);
    const nimbus = await startTestPlatform(
      t,
      { sandbox: 'auto', startTimeoutMs: 60_000 },
      { sandboxFeatures: hidden },
    );
    assert.equal(nimbus.platform.sandbox.isolation, 'user');
    const created = await fetch(`${nimbus.url}/api/v1/secrets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nimbus.platform.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'api-key', value: 'fallback-secret' }),
    });
    assert.equal(created.status, 201);
    // No bind here: the secrets are in the instance's directory, and NIMBUS_SECRETS_DIR says where.
    await nimbus.deploy('secret-reader', 'reader', { secrets: ['api-key'] });
    const res = await fetch(`${nimbus.url}/function/reader?write=1`);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.values, { 'api-key': 'fallback-secret' });
    assert.ok(String(body.dir).startsWith(nimbus.platform.launcher.runDir), `${body.dir}`);
    assert.equal(body.writeError, 'EACCES', 'the file is read-only to the function');
    // Staged under the run dir (not loaded in place), the code still finds the provided SDK above it.
    const caller = copyFixture(t, 'sdk-caller');
    await nimbus.deploy(caller, 'caller');
    await nimbus.deploy('sdk-callee', 'callee');
    const called = await fetch(`${nimbus.url}/function/caller/as-nobody`);
    const text = await called.text();
    assert.equal(called.status, 200, text);
    assert.deepEqual(JSON.parse(text), { got: { from: 'caller', path: '/as-nobody' }, by: 'callee' });
  });

  it('where nothing can isolate instances, they do not start, and only loopback is served unless sandbox: off', async (t) => {
    // Not root and no bubblewrap (a laptop without it): there is no user to drop to.
    const laptop: SandboxFeatures = { ...(await withoutBubblewrap(t)), uid: 1000 };
    const nimbus = await startTestPlatform(t, { sandbox: 'auto' }, { sandboxFeatures: laptop });
    assert.equal(nimbus.platform.sandbox.isolation, 'none');
    assert.match(nimbus.platform.sandbox.summary, /instances will not start: .* --sandbox off/);
    await assert.rejects(nimbus.deploy('hello'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
      assert.match(err.message, /instances cannot start here: .*admin token.*--sandbox off/);
      return true;
    });

    await assert.rejects(
      startTestPlatform(t, { sandbox: 'auto', host: '0.0.0.0' }, { sandboxFeatures: laptop }),
      { code: 'ERR_SANDBOX_PUBLIC_UNISOLATED' },
    );
    // Said on purpose: plain processes, any address, and the start line says so.
    const off = await startTestPlatform(
      t,
      { sandbox: 'off', host: '0.0.0.0', startTimeoutMs: 60_000 },
      { sandboxFeatures: laptop },
    );
    assert.equal(off.platform.sandbox.isolation, 'off');
    assert.match(off.platform.sandbox.summary, /^isolation: off .* can read its data dir and admin token/);
    await off.deploy('hello');
    const res = await fetch(`${off.url.replace('0.0.0.0', '127.0.0.1')}/function/hello`, {
      method: 'POST',
      body: 'off',
    });
    assert.equal(await res.text(), 'hello off');
  });
});
