// docs/errors.md lists every code of src/errors.ts with its status, and nothing else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERRORS, NimbusError } from '../../src/errors.js';

test('docs/errors.md is in step with src/errors.ts', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map<string, number>();
  for (const m of doc.matchAll(/^\| `(ERR_[A-Z_]+)` \| (\d{3}) \|/gm)) documented.set(m[1]!, Number(m[2]));
  const defined = new Map(Object.entries(ERRORS).map(([code, e]) => [code, e.status]));
  assert.deepEqual([...documented].sort(), [...defined].sort());
});

test('codes follow ERR_<AREA>_<WHAT>, statuses are HTTP errors, messages fill their arguments', () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    // ERR_INTERNAL, the issue-named catch-all, is the one code without an area.
    assert.match(code, /^ERR_(?:[A-Z]+_[A-Z_]+|INTERNAL)$/);
    assert.ok(e.status >= 400 && e.status < 600, code);
  }
  const err = new NimbusError('ERR_FUNCTION_NOT_FOUND', ['hello']);
  assert.equal(err.message, 'function "hello" does not exist; `nimbus ls` lists them');
  assert.equal(err.status, 404);
  assert.deepEqual(err.toJSON(), { error: { code: 'ERR_FUNCTION_NOT_FOUND', message: err.message } });
});
