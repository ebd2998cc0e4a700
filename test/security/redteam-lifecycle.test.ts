// A hostile function's attacks on what surrounds its calls, that the other security tests do not make: log
// lines that would steer the terminal of whoever reads them, daemons meant to outlive the platform, and
// module inits that never end, meant to hold the platform's start slots so no other function can start.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { BIN, deployTo, startNimbusProcess } from '../helpers/nimbus-process.js';
import { runnerChildren, startTestPlatform, waitFor } from '../helpers/platform.js';
import { killMarked, markerProcesses, newMarker, noSandbox } from './helpers.js';

/** Control characters a terminal obeys: C0 but tab and newline, DEL, C1, and bidi overrides and isolates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** `nimbus ARGS` as a child process: its stdout. */
function nimbusCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH }, timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
    );
  });
}

describe('a function’s log lines reach a terminal as text', () => {
  it('`nimbus up` and `nimbus logs` show escape sequences, carriage returns and bidi overrides, never send them', async (t) => {
    const nimbus = await startNimbusProcess(t, ['--sandbox', noSandbox ? 'off' : 'required']);
    await deployTo(nimbus.client, 'log-forger', 'forger');
    const marker = newMarker('log');
    const res = await fetch(`${nimbus.url}/function/forger?marker=${marker}`);
    assert.equal(await res.text(), 'logged');
    const upLines = await waitFor(
      () => {
        const lines = nimbus
          .output()
          .split('\n')
          .filter((l) => l.includes(marker));
        return lines.length >= 8 && lines;
      },
      30_000,
      'the function’s lines in the output of nimbus up',
    );
    const logs = (await nimbusCli(['logs', 'forger', '--url', nimbus.url, '--token', nimbus.token])).split(
      '\n',
    );
    const logLines = logs.filter((l) => l.includes(marker));
    assert.equal(logLines.length, 8, logs.join('\n'));
    for (const [who, lines] of [
      ['nimbus up', upLines],
      ['nimbus logs', logLines],
    ] as const) {
      for (const line of lines) {
        assert.doesNotMatch(
          line,
          TERMINAL_CONTROL,
          `${who} printed a control character: ${JSON.stringify(line)}`,
        );
      }
      // Shown, not dropped: the reader sees what the function tried.
      const overwrite = lines.find((l) => l.includes('overwrite'))!;
      assert.match(overwrite, /overwrite\\r2026/, who);
      assert.match(lines.find((l) => l.includes('colour'))!, /\\x1b\[31mred/, who);
    }
    // The JSON form keeps the text as the function wrote it (JSON escapes it).
    const json = await nimbusCli(['logs', 'forger', '--json', '--url', nimbus.url, '--token', nimbus.token]);
    assert.ok(json.includes('\\u001b[31mred'), json.slice(0, 500));
  });
});

describe('a function’s processes end with the platform', { skip: noSandbox ?? false }, () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`a setsid daemon is gone once nimbus up ends by ${signal}`, async (t) => {
      const nimbus = await startNimbusProcess(t, ['--sandbox', 'required']);
      const marker = newMarker(`orphan-${signal}`);
      t.after(() => killMarked(marker));
      await deployTo(nimbus.client, 'hostile', 'orphans');
      const res = await fetch(`${nimbus.url}/function/orphans/daemon?marker=${marker}`);
      assert.equal(await res.text(), 'spawned');
      await waitFor(() => markerProcesses(marker).length > 0, 30_000, 'the daemon to run');
      nimbus.child.kill(signal);
      await waitFor(() => !nimbus.alive(), 30_000, 'nimbus up to end');
      await waitFor(() => markerProcesses(marker).length === 0, 30_000, 'the daemon to be gone');
    });
  }
});

describe('functions that never finish loading', () => {
  it('hold no start slot: another function still starts at once', async (t) => {
    // Two start slots, no stem cells: every cold start goes through the platform-wide start limiter.
    const nimbus = await startTestPlatform(t, {
      sandbox: 'off',
      maxConcurrentStarts: 2,
      stemCells: { min: 0, max: 0 },
      startTimeoutMs: 60_000,
    });
    await nimbus.deploy('hello', 'hello', { scale: { min: 0, max: 2, idleTimeoutMs: 100 } });
    // Each deploy loads it once; every instance started from HANG_AFTER on hangs in its module's init.
    const hangAfter = Date.now() + 5000;
    const bombs = ['bomb1', 'bomb2'];
    for (const name of bombs) {
      await nimbus.deploy('init-bomb', name, {
        environment: { HANG_AFTER: String(hangAfter) },
        concurrency: 1,
        timeoutMs: 120_000,
        scale: { min: 0, max: 4 },
      });
    }
    await waitFor(
      () => nimbus.events.some((e) => e.type === 'instance-exit' && e.name === 'hello'),
      30_000,
      'hello to scale to zero',
    );
    await waitFor(() => Date.now() > hangAfter, 30_000, 'the bombs to arm');
    const calls = bombs.flatMap((name) =>
      Array.from({ length: 3 }, () =>
        fetch(`${nimbus.url}/function/${name}`, { signal: AbortSignal.timeout(120_000) }).catch(
          () => undefined,
        ),
      ),
    );
    t.after(() => Promise.all(calls));
    // Beside the deploys' warm instances (each busy with a call that never ends), the bombs' starts hang in
    // their init: before the fix they held both start slots.
    await waitFor(() => runnerChildren().length >= 4, 60_000, 'the bombs’ starts to run');
    const started = performance.now();
    const res = await fetch(`${nimbus.url}/function/hello`, { method: 'POST', body: 'cold' });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(await res.text(), 'hello cold');
    // While a function's init held a slot, hello waited for bombs' starts to time out (it took 121 s).
    assert.ok(seconds < 30, `hello took ${seconds.toFixed(1)} s to start`);
    await Promise.all(bombs.map((name) => nimbus.client.remove(name)));
  });
});
