// The per-instance output budget, with injected time: bursts pass, floods are dropped and counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputLimiter } from '../../src/instances/output-limit.js';

const LIMITS = { linesPerSec: 10, bytesPerSec: 1000, burstSec: 2 };

test('lines past the budget are dropped and counted; the budget refills with time', () => {
  let now = 0;
  const limiter = new OutputLimiter(LIMITS, () => now);
  let kept = 0;
  for (let i = 0; i < 30; i++) if (limiter.admitLine()) kept++;
  assert.equal(kept, 20, 'a burst of 2 s worth');
  assert.deepEqual(limiter.takeDropped(), { lines: 10, bytes: 0 });
  assert.equal(limiter.takeDropped(), null, 'counts reset once reported');
  now += 500;
  kept = 0;
  for (let i = 0; i < 30; i++) if (limiter.admitLine()) kept++;
  assert.equal(kept, 5, 'half a second refills 5 lines');
  now += 60_000;
  kept = 0;
  for (let i = 0; i < 30; i++) if (limiter.admitLine()) kept++;
  assert.equal(kept, 20, 'never more than the burst');
});

test('a chunk past the byte budget is dropped whole, its lines counted without splitting it', () => {
  let now = 0;
  const limiter = new OutputLimiter(LIMITS, () => now);
  const chunk = Buffer.from('a\nb\nc\nd\n'.repeat(100)); // 800 bytes, 400 lines
  assert.equal(limiter.admitChunk(chunk), true);
  assert.equal(limiter.admitChunk(chunk), true);
  assert.equal(limiter.admitChunk(chunk), false, 'past 2000 bytes');
  assert.deepEqual(limiter.takeDropped(), { lines: 400, bytes: 800 });
  now += 1000;
  assert.equal(limiter.admitChunk(chunk), true, 'refilled');
  assert.match(
    limiter.describe({ lines: 300, bytes: 600 }),
    /^\[nimbus\] 300 lines and 600 bytes of output dropped: past 10 lines\/s or 1000 bytes\/s$/,
  );
});
