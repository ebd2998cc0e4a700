// tracing.* in the platform config: OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME honoured, merged key by
// key with the file's section, and a bad endpoint refused with the key named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFromEnv, loadPlatformConfig } from '../../src/config/platform.js';
import { NimbusError } from '../../src/errors.js';

test('tracing is off by default', () => {
  const config = loadPlatformConfig({});
  assert.equal(config.tracing.otlpEndpoint, undefined);
  assert.equal(config.tracing.serviceName, 'nimbus');
  assert.equal(config.tracing.exportDelayMs, 5000);
});

test('OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME set tracing.*, over the file, keeping its other keys', () => {
  const env = configFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: '' });
  assert.deepEqual(env, { tracing: { otlpEndpoint: 'http://collector:4318' } });
  const config = loadPlatformConfig(
    { tracing: { otlpEndpoint: 'http://file:4318', exportDelayMs: 200 } },
    env,
    { port: 0 },
  );
  assert.equal(config.tracing.otlpEndpoint, 'http://collector:4318', 'the environment wins over the file');
  assert.equal(config.tracing.exportDelayMs, 200, "the file's other tracing keys stay");
  assert.equal(loadPlatformConfig(configFromEnv({ OTEL_SERVICE_NAME: 'edge' })).tracing.serviceName, 'edge');
  assert.deepEqual(
    configFromEnv({ NIMBUS_PORT: '9' }),
    { port: 9 },
    'no tracing section without the variables',
  );
});

test('a bad endpoint or an unknown tracing key is a config error naming it', () => {
  for (const [input, key] of [
    [{ tracing: { otlpEndpoint: 'collector:4318' } }, 'tracing.otlpEndpoint'],
    [{ tracing: { otlpEndpoint: 'ftp://collector' } }, 'tracing.otlpEndpoint'],
    [{ tracing: { otlpEndpoint: '' } }, 'tracing.otlpEndpoint'],
    [{ tracing: { exportDelayMs: 0 } }, 'tracing.exportDelayMs'],
    [{ tracing: { sampler: 'always' } }, 'sampler'],
  ] as const) {
    assert.throws(
      () => loadPlatformConfig(input as never),
      (err: unknown) =>
        err instanceof NimbusError && err.code === 'ERR_CONFIG_INVALID' && err.message.includes(key),
      JSON.stringify(input),
    );
  }
});
