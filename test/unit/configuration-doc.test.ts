// docs/configuration.md names every key of the platform config (nested ones as `parent.key`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { z } from 'zod';
import { platformConfigSchema } from '../../src/config/platform.js';

/** The schema's keys, an object's own keys as `parent.key`. */
function keys(schema: z.ZodObject, prefix = ''): string[] {
  return Object.entries(schema.shape).flatMap(([key, field]) => {
    let inner: unknown = field;
    while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault || inner instanceof z.ZodOptional)
      inner = (inner as { unwrap(): unknown }).unwrap();
    return inner instanceof z.ZodObject ? keys(inner, `${prefix}${key}.`) : [`${prefix}${key}`];
  });
}

test('docs/configuration.md documents every config key', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const documented = new Set(
    [...doc.matchAll(/^\| (`[^|]+`) \|/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/`([^`]+)`/g)].map((k) => k[1]!),
    ),
  );
  const all = keys(platformConfigSchema);
  assert.ok(all.length > 20, `read the schema: ${all}`);
  assert.deepEqual(
    all.filter((k) => !documented.has(k)),
    [],
  );
});
