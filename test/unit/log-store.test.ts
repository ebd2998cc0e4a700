// The log store: bounded rings per function, tail/since/instance/afterSeq queries, live subscribers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogStore } from '../../src/logs/log-store.js';

test('keeps at most maxLines and maxBytes per function, oldest dropped first', () => {
  let now = 1000;
  const logs = new LogStore({ maxLinesPerFunction: 3, maxBytesPerFunction: 1024 * 1024, now: () => now++ });
  for (let i = 0; i < 5; i++) logs.append('a', 'i1', `line ${i}`, 'stdout');
  assert.deepEqual(
    logs.query('a').map((e) => e.text),
    ['line 2', 'line 3', 'line 4'],
  );
  const small = new LogStore({ maxBytesPerFunction: 200 });
  for (let i = 0; i < 10; i++) small.append('b', 'i1', 'x'.repeat(50), 'stdout');
  assert.equal(small.query('b').length, 1, 'each line costs its text plus 64 bytes');
  assert.deepEqual(logs.query('nobody'), []);
});

test('queries: tail, since, instance, afterSeq', () => {
  let now = 0;
  const logs = new LogStore({ now: () => now });
  now = 100;
  logs.append('f', 'i1', 'one', 'stdout');
  const mark = logs.seq;
  now = 200;
  logs.append('f', 'i2', 'two', 'stderr');
  logs.append('f', 'i1', 'three', 'stdout');
  assert.deepEqual(
    logs.query('f', { tail: 2 }).map((e) => e.text),
    ['two', 'three'],
  );
  assert.deepEqual(logs.query('f', { tail: 0 }), []);
  assert.deepEqual(
    logs.query('f', { sinceMs: 150 }).map((e) => e.text),
    ['two', 'three'],
  );
  assert.deepEqual(
    logs.query('f', { instance: 'i1' }).map((e) => e.text),
    ['one', 'three'],
  );
  assert.deepEqual(
    logs.query('f', { afterSeq: mark, instance: 'i1' }).map((e) => e.text),
    ['three'],
  );
  assert.equal(logs.query('f')[1]!.stream, 'stderr');
});

test('forgets the function written to longest ago past maxFunctions', () => {
  const logs = new LogStore({ maxFunctions: 2 });
  logs.append('a', 'i', '1', 'stdout');
  logs.append('b', 'i', '1', 'stdout');
  logs.append('a', 'i', '2', 'stdout');
  logs.append('c', 'i', '1', 'stdout');
  assert.equal(logs.query('b').length, 0);
  assert.equal(logs.query('a').length, 2);
  assert.equal(logs.query('c').length, 1);
});

test('subscribers get new lines until they unsubscribe; close ends them', () => {
  const logs = new LogStore();
  const seen: string[] = [];
  let closed = 0;
  const stop = logs.subscribe(
    'f',
    (e) => seen.push(e.text),
    () => closed++,
  );
  logs.append('f', 'i', 'a', 'stdout');
  logs.append('g', 'i', 'other', 'stdout');
  stop();
  logs.append('f', 'i', 'b', 'stdout');
  assert.deepEqual(seen, ['a']);
  logs.subscribe(
    'f',
    () => {},
    () => closed++,
  );
  logs.close();
  assert.equal(closed, 1, 'only live subscriptions are ended');
});
