// The dashboard in a real browser (Debian's chromium driven by playwright-core): sign in, deploy through the
// real CLI and see the function appear, invoke it from the form, watch its log line arrive in the live tail,
// redrive a dead letter, pick another namespace and see a cold start there, secrets by name, a phone screen,
// and sign in again with a read key that sees less. Screenshots land in test-artifacts/ui/ (gitignored).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Locator, type Page } from 'playwright-core';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

const CHROMIUM = '/usr/bin/chromium';
const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;
const ARTIFACTS = new URL('../../test-artifacts/ui/', import.meta.url).pathname;

/** A function that logs and answers; its instance goes after 100 ms idle, so the next call starts one. */
const COLD_HANDLER = `export default async (request) => new Response('cold ' + new URL(request.url).pathname);
`;

/**
 * The function the test deploys: logs a line with its call id and one without (found by the id the platform
 * tags it with); v1 fails when asked to, v2 is fixed.
 */
function handler(version: number): string {
  return `export default {
  async fetch(request) {
    const body = await request.text();
    console.log('ui-hello v${version} handled ' + request.headers.get('x-call-id') + ' body=' + body);
    console.log('ui-hello v${version} no id in this line, body=' + body);
    if (${version} === 1 && body === 'please-fail') throw new Error('asked to fail');
    return new Response('hello ' + body, { headers: { 'content-type': 'text/plain' } });
  },
};
`;
}

async function text(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? '';
}

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH }, timeout: 120_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`nimbus ${args[0]}: ${stderr}${stdout}`)) : resolve(stdout),
    );
  });
}

test('the dashboard in chromium', {
  skip: existsSync(CHROMIUM)
    ? false
    : `Debian's chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does)`,
  // Generous: a noisy 2-core machine, a browser, a gateway and a dozen CLI runs.
  timeout: 300_000,
}, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'nimbus-ui-browser-'));
  const fnDir = join(work, 'ui-hello');
  mkdirSync(fnDir);
  // This run's screenshots only.
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = join(work, 'profile');
  // The browser starts first, so its after-hook (closing it and every process it started) runs before the
  // gateway's: no live tail is left open against a closing gateway.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(async () => {
    await browser.close();
    rmSync(work, { recursive: true, force: true });
  });
  const nimbus = await startTestPlatform(t, { autoscaler: { tickMs: 100 } });
  const { url, platform } = nimbus;
  const admin = { authorization: `Bearer ${platform.token}` };
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(30_000);
  // A namespace besides default, there before sign-in so the picker lists it.
  assert.match(
    await cli(['ns', 'create', 'team-b', '--url', url, '--token', platform.token]),
    /name: team-b/,
  );
  // Anything the page's policy refused, and any uncaught error, fails the test at the end.
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Trusted Type|Refused to/i.test(message.text()))
      problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  const shot = (name: string, p: Page = page) =>
    p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  await t.test('sign in with the admin token', async () => {
    await page.goto(`${url}/ui/`);
    await page.getByLabel('Key').fill(platform.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
    await page.getByText('admin token · admin').waitFor();
    assert.equal(await page.evaluate<string>('document.cookie'), '', 'no cookie holds the key');
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('nimbus.key')"), platform.token);
    await shot('01-signed-in');
  });

  await t.test('a function deployed with the CLI appears', async () => {
    writeFileSync(join(fnDir, 'index.mjs'), handler(1));
    writeFileSync(join(fnDir, 'nimbus.yml'), 'async: { retries: 0 }\nlabels: { team: ui }\n');
    const out = await cli(['deploy', fnDir, '--url', url, '--token', platform.token]);
    assert.match(out, /deployed ui-hello v1/);
    const row = page.locator('tr[data-function="ui-hello"]');
    await row.waitFor();
    await row.getByText('v1').waitFor();
    await shot('02-function-listed');
  });

  let callId = '';
  const marker = `live-${Date.now()}`;
  let markerCallId = '';
  await t.test('invoke it from the form', async () => {
    await page.getByRole('link', { name: 'ui-hello' }).click();
    await page.getByRole('link', { name: 'Invoke', exact: true }).click();
    await page.locator('textarea[name="body"]').fill('from the dashboard');
    await page.getByRole('button', { name: 'Send' }).click();
    const result = page.getByTestId('invoke-result');
    await result.waitFor();
    assert.match(await text(result), /200/);
    assert.match(await text(result), /ms in all/);
    assert.equal(await text(page.locator('pre.response-body')), 'hello from the dashboard');
    callId = await text(page.locator('code.call-id'));
    assert.match(callId, /^[0-9a-f-]{36}$/);
    assert.match(
      await text(page.getByTitle('nimbus command')),
      /nimbus invoke ui-hello .*--data 'from the dashboard'$/,
    );
    assert.doesNotMatch(
      await text(page.getByTitle('curl command')),
      /authorization/i,
      'a public function is called without the key',
    );
    await shot('03-invoked');
  });

  await t.test('its log line, by call id, and new lines arriving live', async () => {
    await page.getByRole('link', { name: 'log lines with this call id' }).click();
    await page.locator('.logs .line', { hasText: `handled ${callId}` }).waitFor();
    // The line without the id shows by the call id the platform tagged it with.
    await page.locator('.logs .line', { hasText: 'no id in this line, body=from the dashboard' }).waitFor();
    assert.equal(await page.locator('.logs .line').count(), 2, 'the filter keeps that call only');
    await page.getByTestId('tail-state').getByText('live').waitFor();
    await page.getByLabel('call id or text').fill('');
    const res = await fetch(`${url}/function/ui-hello`, { method: 'POST', body: marker });
    assert.equal(res.status, 200);
    markerCallId = res.headers.get('x-call-id')!;
    await page.locator('.logs .line', { hasText: `handled ${markerCallId} body=${marker}` }).waitFor();
    await shot('04-live-logs');
  });

  await t.test('the overview draws the calls and lists them, each with a link to its log lines', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    const newest = page.locator('tr.recent-call').first();
    await newest.getByTitle(markerCallId).waitFor();
    assert.ok((await page.locator('tr.recent-call').count()) >= 2);
    await page.getByRole('img', { name: /^Calls: calls [1-9]/ }).waitFor();
    await page.getByRole('img', { name: /^Latency: p50 \d/ }).waitFor();
    await shot('05-overview');
    await newest.getByRole('link', { name: 'logs' }).click();
    await page.locator('.logs .line', { hasText: `no id in this line, body=${marker}` }).waitFor();
    assert.equal(await page.locator('.logs .line').count(), 2, "that call's two lines");
    assert.equal(await page.getByLabel('call id or text').inputValue(), markerCallId);
    await page.getByRole('link', { name: 'Spec' }).click();
    await page.getByText('team', { exact: true }).waitFor();
    assert.match(await text(page.getByTitle('commands')), /nimbus logs ui-hello --follow/);
    await shot('06-spec');
  });

  await t.test('a dead letter is redriven after a fix', async () => {
    const queued = await fetch(`${url}/async-function/ui-hello`, { method: 'POST', body: 'please-fail' });
    assert.equal(queued.status, 202);
    const id = queued.headers.get('x-call-id')!;
    const status = async () =>
      ((await (await fetch(`${url}/system/calls/${id}`, { headers: admin })).json()) as { status: string })
        .status;
    await waitFor(async () => (await status()) === 'dead', 60_000, 'the call to go dead');
    writeFileSync(join(fnDir, 'index.mjs'), handler(2));
    assert.match(
      await cli(['deploy', fnDir, '--url', url, '--token', platform.token]),
      /deployed ui-hello v2/,
    );

    await page.getByRole('link', { name: 'Async calls', exact: true }).first().click();
    await page.getByLabel('status').selectOption('dead');
    const row = page.locator(`tr[data-call="${id}"]`);
    await row.waitFor();
    await shot('07-dead-letter');
    await row.getByRole('button', { name: 'Redrive' }).click();
    await page.getByText(`call ${id} queued again`).waitFor();
    await waitFor(async () => (await status()) === 'succeeded', 60_000, 'the redriven call to succeed');
    await page.getByLabel('status').selectOption('succeeded');
    await page.locator(`tr[data-call="${id}"][data-status="succeeded"]`).waitFor();
    await page.getByRole('link', { name: id }).click();
    await page.getByText('hello please-fail').waitFor();
    await shot('08-redriven');
  });

  await t.test(
    'the namespace picker, and a cold start in the list, the recent calls and the chart',
    async () => {
      const coldDir = join(work, 'ui-cold');
      mkdirSync(coldDir);
      writeFileSync(join(coldDir, 'index.mjs'), COLD_HANDLER);
      writeFileSync(join(coldDir, 'nimbus.yml'), 'scale: { idleTimeoutMs: 100 }\n');
      const out = await cli([
        'deploy',
        coldDir,
        '--namespace',
        'team-b',
        '--url',
        url,
        '--token',
        platform.token,
      ]);
      assert.match(out, /deployed ui-cold v1/);
      // The instance the deploy proved the code with goes after 100 ms idle: the next call starts one.
      const instances = async () =>
        (
          (await (
            await fetch(`${url}/api/v1/functions/ui-cold?namespace=team-b`, { headers: admin })
          ).json()) as {
            instances: number;
          }
        ).instances;
      await waitFor(async () => (await instances()) === 0, 30_000, 'ui-cold at zero instances');
      const res = await fetch(`${url}/function/ui-cold.team-b/first`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'cold /first');

      await page.getByRole('link', { name: 'Functions', exact: true }).click();
      await page.locator('tr[data-function="ui-hello"]').waitFor();
      await page.getByLabel('namespace').selectOption('team-b');
      await page.getByText('in team-b').waitFor();
      const row = page.locator('tr[data-function="ui-cold"]');
      await row.waitFor();
      assert.equal(
        await page.locator('tr[data-function="ui-hello"]').count(),
        0,
        "default's function is not listed",
      );
      await row.locator('td.cold-starts', { hasText: /^[1-9]/ }).waitFor();
      await shot('09-namespace-picked');
      await row.getByRole('link', { name: 'ui-cold' }).click();
      await page.locator('tr.recent-call', { hasText: 'cold' }).first().waitFor();
      await page.getByRole('img', { name: /^Cold starts: cold starts [1-9]/ }).waitFor();
      await page.getByRole('img', { name: /^Latency: p50 \d/ }).waitFor();
      await shot('10-cold-start');
      await page.getByRole('link', { name: 'Spec' }).click();
      assert.match(await text(page.getByTitle('commands')), /nimbus describe ui-cold --namespace team-b/);
      await page.getByLabel('namespace').selectOption('default');
      await page.locator('tr[data-function="ui-hello"]').waitFor();
    },
  );

  await t.test('secrets by name only', async () => {
    const value = `s3cret-${Date.now()}`;
    await page.getByRole('link', { name: 'Secrets' }).click();
    await page.getByText('No secrets in default.').waitFor();
    await page.getByLabel('name', { exact: true }).fill('db-password');
    await page.getByLabel(/^value/).fill(value);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('secret db-password created').waitFor();
    await page.locator('tr[data-secret="db-password"]').waitFor();
    assert.equal(await page.getByText(value).count(), 0, 'the value is never shown');
    assert.ok(!(await page.content()).includes(value), 'nor anywhere in the page');
    await shot('11-secrets');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator('tr[data-secret="db-password"]').getByRole('button', { name: 'Remove' }).click();
    await page.getByText('secret db-password removed').waitFor();
    // The list is read again after the removal: wait for that answer rather than race it.
    await page.getByText('No secrets in default.').waitFor();
    assert.equal(await page.locator('tr[data-secret]').count(), 0);
  });

  await t.test(
    'against an older gateway without a secrets API, the view says secrets are unavailable',
    async () => {
      // What a Nimbus from before /api/v1/secrets answers (its router's 404), given in its place.
      await page.route(
        (target) => target.pathname === '/api/v1/secrets',
        (route) =>
          route.fulfill({
            status: 404,
            contentType: 'application/json; charset=utf-8',
            body: JSON.stringify({
              error: {
                code: 'ERR_ROUTE_NOT_FOUND',
                message: 'no route for GET /api/v1/secrets; see /openapi.json',
              },
            }),
          }),
      );
      try {
        await page.getByRole('link', { name: 'Functions', exact: true }).click();
        await page.getByRole('link', { name: 'Secrets' }).click();
        await page.getByTestId('secrets-unavailable').waitFor();
        assert.equal(await page.getByRole('alert').count(), 0, 'a notice, not an error');
        assert.equal(await page.getByRole('button', { name: 'Save' }).count(), 0, 'no form to fill in vain');
        await shot('12-secrets-unavailable');
      } finally {
        await page.unrouteAll();
      }
    },
  );

  await t.test('fits a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${url}/ui/#/ns/default/functions`);
    await page.locator('tr[data-function="ui-hello"]').waitFor();
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await shot('13-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await t.test('a read key sees functions, but no keys page and no redrive', async () => {
    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByLabel('description').fill('dashboard test');
    await page.getByRole('button', { name: 'Create' }).click();
    const secret = (await text(page.getByTitle('secret'))).trim();
    assert.match(secret, /^nmbk_/);
    await page.getByRole('button', { name: 'Sign out' }).click();
    assert.equal(
      await page.evaluate<string | null>("sessionStorage.getItem('nimbus.key')"),
      null,
      'signing out forgets the key',
    );
    await page.getByLabel('Key').fill(secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('tr[data-function="ui-hello"]').waitFor();
    await page.getByText('· read · default').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Keys' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Secrets' }).count(), 0, 'secrets need deploy scope');
    await page.getByRole('link', { name: 'Async calls', exact: true }).first().click();
    await page.locator('tr[data-call]').first().waitFor();
    assert.equal(await page.getByRole('button', { name: /Redrive/ }).count(), 0);
    await shot('14-read-key');
  });

  assert.deepEqual(problems, []);
});
