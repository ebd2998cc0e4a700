// The memory budget: reservations, LRU eviction through the evictable, refusal with a coded 429.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBudget } from '../../src/scaler/budget.js';

test('reserves within the limit, evicts when full, refuses when nothing can go', () => {
  const victims: object[] = [];
  const evicted: string[] = [];
  const budget = new MemoryBudget(512, {
    nextVictim: (exclude) => {
      const v = victims.shift();
      if (!v) return undefined;
      return {
        holder: v,
        lastUsedAt: 0,
        evict: () => {
          evicted.push(`${exclude}:${(v as { id: string }).id}`);
        },
      };
    },
  });
  const a = { id: 'a' };
  const b = { id: 'b' };
  budget.reserve(a, 256, 'fa');
  budget.reserve(b, 256, 'fb');
  assert.equal(budget.used, 512);
  victims.push(a);
  const c = { id: 'c' };
  budget.reserve(c, 256, 'fc');
  assert.deepEqual(evicted, ['fc:a']);
  assert.equal(budget.used, 512, "the victim's memory is freed by the budget itself");
  assert.throws(
    () => budget.reserve({}, 256, 'fd'),
    (err: any) => {
      assert.equal(err.code, 'ERR_CAPACITY_EXHAUSTED');
      assert.equal(err.status, 429);
      assert.equal(err.headers['retry-after'], '1');
      return true;
    },
  );
  victims.push(c);
  assert.throws(() => budget.reserve({}, 256, '(stem cell)', false), { code: 'ERR_CAPACITY_EXHAUSTED' });
  assert.deepEqual(evicted, ['fc:a'], 'a reservation that may not evict leaves the others alone');
  victims.length = 0;
  budget.release(b);
  budget.release(b);
  assert.equal(budget.used, 256, 'release is idempotent');
});
