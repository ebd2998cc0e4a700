// GET /metrics: Prometheus text with OpenFaaS's gateway series, cold starts and the platform's gauges,
// counted from real calls (HTTP, async) against the real gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

/** The value of the sample with exactly this name and these labels, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test('GET /metrics counts calls by function and status, with latency, cold starts and gauges', async (t) => {
  const nimbus = await startTestPlatform(t, { autoscaler: { tickMs: 100 } });
  await nimbus.deploy('echo', 'echo', { scale: { min: 0, idleTimeoutMs: 100 } });
  await nimbus.deploy('throws');
  const metrics = async (): Promise<string> => {
    const res = await fetch(`${nimbus.url}/metrics`, {
      headers: { authorization: `Bearer ${nimbus.platform.token}` },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    return res.text();
  };
  assert.equal((await fetch(`${nimbus.url}/metrics`)).status, 401, 'behind the platform token');

  // The instance the deploy proved the code with goes after 100 ms idle: the next call starts one.
  await waitFor(async () => (await nimbus.client.get('echo')).instances === 0, 10_000, 'echo at zero');
  const eventsAtZero = nimbus.events.length;
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${nimbus.url}/function/echo`)).status, 200);
  assert.equal((await fetch(`${nimbus.url}/function/throws`)).status, 500);
  assert.equal((await fetch(`${nimbus.url}/async-function/echo`, { method: 'POST' })).status, 202);

  const echo = 'function_name="echo",code="200"';
  const text: string = await waitFor(
    async () => {
      const m = await metrics();
      return sample(m, `gateway_function_invocation_total{${echo}}`) === 4 ? m : '';
    },
    10_000,
    'the async call counted',
  );
  assert.equal(sample(text, 'gateway_function_invocation_total{function_name="throws",code="500"}'), 1);
  // Each instance started from zero for a waiting call is one cold start (on a busy machine the 100 ms idle
  // timeout may pass between calls, so there can be more than one).
  const started = nimbus.events
    .slice(eventsAtZero)
    .filter((e) => e.type === 'instance-ready' && e.name === 'echo').length;
  assert.ok(started >= 1);
  assert.equal(sample(text, 'nimbus_cold_starts_total{function_name="echo"}'), started);
  assert.equal(sample(text, 'nimbus_cold_starts_total{function_name="throws"}'), 0);
  // The histogram: cumulative buckets ending at the count, a sum of positive durations.
  assert.equal(sample(text, `gateway_functions_seconds_count{${echo}}`), 4);
  assert.equal(sample(text, `gateway_functions_seconds_bucket{${echo},le="+Inf"}`), 4);
  const buckets = text
    .split('\n')
    .filter((l) => l.startsWith(`gateway_functions_seconds_bucket{${echo},`))
    .map((l) => Number(l.split(' ')[1]));
  assert.equal(buckets.length, 12);
  assert.ok(
    buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!),
    `cumulative: ${buckets}`,
  );
  assert.ok(sample(text, `gateway_functions_seconds_sum{${echo}}`)! > 0);
  assert.match(text, /^# TYPE gateway_functions_seconds histogram$/m);
  // What the platform holds now.
  assert.equal(sample(text, 'gateway_service_count{function_name="throws"}'), 1);
  assert.equal(sample(text, 'nimbus_requests_queued{function_name="echo"}'), 0);
  assert.ok(sample(text, 'nimbus_memory_budget_bytes{kind="limit"}')! > 0);
  assert.ok(sample(text, 'nimbus_memory_budget_bytes{kind="reserved"}')! > 0);
  assert.notEqual(sample(text, 'nimbus_stem_cells'), undefined);
});
