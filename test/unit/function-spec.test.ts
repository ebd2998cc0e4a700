// The function spec schema: defaults, unknown keys and bad values named, handler parsing, names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertFunctionName, parseFunctionSpec, parseHandler } from '../../src/config/function-spec.js';

test('defaults', () => {
  const spec = parseFunctionSpec({});
  assert.equal(spec.runtime, 'node');
  assert.equal(spec.timeoutMs, 30_000);
  assert.equal(spec.concurrency, undefined, 'by handler style unless set');
  assert.deepEqual(spec.scale, { min: 0, max: 10, idleTimeoutMs: 600_000, utilisation: 0.7 });
  assert.deepEqual(spec.environment, {});
});

test('environment values become strings', () => {
  assert.deepEqual(parseFunctionSpec({ environment: { A: 1, B: true, C: 'x' } }).environment, {
    A: '1',
    B: 'true',
    C: 'x',
  });
});

test('bad input names the field', () => {
  assert.throws(() => parseFunctionSpec({ nope: 1 }), /unknown key "nope"/);
  assert.throws(
    () => parseFunctionSpec({ scale: { min: 3, max: 2 } }),
    /scale\.min: must not exceed scale\.max/,
  );
  assert.throws(() => parseFunctionSpec({ scale: { min: -1 } }), /scale\.min/);
  assert.throws(() => parseFunctionSpec({ timeoutMs: 'soon' }), /timeoutMs/);
  assert.throws(() => parseFunctionSpec({ concurrency: 0 }), /concurrency/);
  assert.throws(() => parseFunctionSpec({ environment: { 'BAD-NAME': 'x' } }), /environment/);
  assert.throws(() => parseFunctionSpec({ runtime: 'cobol' }), /runtime/);
  assert.throws(() => parseFunctionSpec({ scale: { sideways: 1 } }), /scale: unknown key "sideways"/);
});

test('handler strings split into file and export', () => {
  assert.deepEqual(parseHandler('index.ts'), { file: 'index.ts', exportName: undefined });
  assert.deepEqual(parseHandler('index.handler'), { file: 'index', exportName: 'handler' });
  assert.deepEqual(parseHandler('src/app.js'), { file: 'src/app.js', exportName: undefined });
  assert.deepEqual(parseHandler('src/app.mjs.main'), { file: 'src/app.mjs', exportName: 'main' });
  assert.deepEqual(parseHandler(undefined), { file: undefined, exportName: undefined });
});

test('function names are DNS labels', () => {
  for (const ok of ['a', 'hello', 'hello-world-2', 'a'.repeat(63)]) assertFunctionName(ok);
  for (const bad of ['', '../x', 'A', '-a', 'a-', 'a_b', 'a.b', 'a'.repeat(64), '1abc']) {
    assert.throws(() => assertFunctionName(bad), { code: 'ERR_FUNCTION_NAME_INVALID' }, bad);
  }
});
