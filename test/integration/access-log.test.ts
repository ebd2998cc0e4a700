// accessLog: one line per request, written once the response is done.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPlatformConfig } from '../../src/config/platform.js';
import { startPlatform } from '../../src/platform.js';
import { waitFor } from '../helpers/platform.js';

for (const accessLog of [true, false]) {
  test(`accessLog: ${accessLog}`, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-access-'));
    const lines: string[] = [];
    const platform = await startPlatform(
      loadPlatformConfig({ port: 0, dataDir, sandbox: 'off', stemCells: { min: 0, max: 0 }, accessLog }),
      { output: () => {}, event: () => {}, access: (line) => lines.push(line) },
    );
    t.after(async () => {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    assert.equal((await fetch(`${platform.url}/healthz`)).status, 200);
    assert.equal(
      (await fetch(`${platform.url}/function/nope?x=1`, { method: 'POST', body: 'a' })).status,
      404,
    );
    if (!accessLog) {
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(lines, []);
      return;
    }
    await waitFor(() => lines.length === 2, 5000, 'two lines');
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 "GET \/healthz" 200 \d+\.\dms$/);
    assert.match(lines[1]!, /^\S+ 127\.0\.0\.1 "POST \/function\/nope\?x=1" 404 \d+\.\dms$/);
  });
}
