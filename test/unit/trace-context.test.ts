// W3C Trace Context parsing as the spec's test suite asks of it: what continues a trace, what starts a new
// one, tracestate kept or dropped whole, ids never zero, and the X-Ray form Lambda handlers get.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  asVersion00,
  formatTraceparent,
  isValidTraceparent,
  newSpanId,
  newTraceId,
  newTraceparent,
  parseTraceparent,
  parseTracestate,
  traceparentFromXray,
  xrayTraceHeader,
} from '../../src/observability/trace-context.js';
import { passOn, tracesUrl } from '../../src/observability/tracing.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

test('a version-00 traceparent parses into its fields', () => {
  assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE, spanId: SPAN, flags: 1 });
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, flags: 0 });
  // Flags other than sampled are kept as they came (later specs give them meaning).
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-ff`)?.flags, 255);
});

test('invalid traceparents are refused', () => {
  const invalid: unknown[] = [
    undefined,
    '',
    VALID.slice(0, 54),
    `${VALID}-`,
    `${VALID}x`,
    VALID.toUpperCase(),
    `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-${TRACE}-${SPAN.toUpperCase()}-01`,
    `00-${TRACE}-${SPAN}-0A`,
    `00-${'0'.repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `ff-${TRACE}-${SPAN}-01`,
    `0x-${TRACE}-${SPAN}-01`,
    `00-${TRACE}_${SPAN}-01`,
    `00.${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}.01`,
    `00-${TRACE.slice(0, 31)}g-${SPAN}-01`,
    `00-${TRACE}-${SPAN.slice(0, 15)}z-01`,
    ` ${VALID.slice(1)}`,
    `01-${TRACE}-${SPAN}-01x`,
    `01-${TRACE}-${SPAN}`,
    [VALID, VALID],
  ];
  for (const value of invalid) {
    assert.equal(isValidTraceparent(value as string), false, JSON.stringify(value));
    assert.equal(parseTraceparent(value as string), undefined, JSON.stringify(value));
  }
});

test('a later version is read as version 00 reads it and passed on as 00', () => {
  for (const value of [
    `01-${TRACE}-${SPAN}-01`,
    `cc-${TRACE}-${SPAN}-01-more-fields`,
    `fe-${TRACE}-${SPAN}-00-`,
  ]) {
    assert.ok(isValidTraceparent(value), value);
    assert.equal(asVersion00(value), `00-${TRACE}-${SPAN}-${value.slice(53, 55)}`);
  }
  assert.equal(asVersion00(VALID), VALID);
});

test('no random string of the right shape is accepted unless it is valid hex with non-zero ids', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 50, maxLength: 60 }), (value) => {
      const parsed = parseTraceparent(value);
      if (parsed === undefined) return true;
      return /^[0-9a-f]{32}$/.test(parsed.traceId) && /^[0-9a-f]{16}$/.test(parsed.spanId);
    }),
  );
  // Every value formatted from valid parts is valid, and parses back into them.
  fc.assert(
    fc.property(
      fc.stringMatching(/^[0-9a-f]{32}$/),
      fc.stringMatching(/^[0-9a-f]{16}$/),
      fc.integer({ min: 0, max: 255 }),
      (traceId, spanId, flags) => {
        fc.pre(!/^0+$/.test(traceId) && !/^0+$/.test(spanId));
        assert.deepEqual(parseTraceparent(formatTraceparent(traceId, spanId, flags)), {
          traceId,
          spanId,
          flags,
        });
      },
    ),
  );
});

test('new ids are lowercase hex, never all zero, and differ', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const traceparent = newTraceparent();
    assert.ok(isValidTraceparent(traceparent), traceparent);
    assert.ok(traceparent.endsWith('-00'), 'a new trace the gateway did not record is not sampled');
    seen.add(traceparent.slice(3, 35));
  }
  assert.equal(seen.size, 2000);
  assert.match(newTraceId(), /^[0-9a-f]{32}$/);
  assert.match(newSpanId(), /^[0-9a-f]{16}$/);
});

test('tracestate: valid lists pass trimmed, anything invalid is dropped whole', () => {
  assert.equal(
    parseTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'),
    'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
  );
  assert.equal(parseTracestate(' a=1 ,, b=2 ,'), 'a=1,b=2', 'empty members dropped, whitespace trimmed');
  assert.equal(parseTracestate(['a=1', 'b=2']), 'a=1,b=2', 'two headers join');
  assert.equal(parseTracestate('tenant@system=x'), 'tenant@system=x');
  assert.equal(parseTracestate('a=value with spaces'), 'a=value with spaces');
  assert.equal(parseTracestate(`k=${'v'.repeat(256)}`), `k=${'v'.repeat(256)}`);
  const max = Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',');
  assert.equal(parseTracestate(max), max);
  for (const bad of [
    undefined,
    '',
    ' , ',
    'novalue',
    '=v',
    'k=',
    'K=v',
    '1k=v',
    'k=v=w',
    'k=a,k=b',
    `k=${'v'.repeat(257)}`,
    `${'k'.repeat(257)}=v`,
    'k=\u00e9',
    'k=\t',
    'tenant@=v',
    '@system=v',
    `t@${'s'.repeat(15)}=v`,
    `${max},k32=v`,
  ]) {
    assert.equal(parseTracestate(bad), undefined, JSON.stringify(bad));
  }
});

test('without tracing: the caller context passes on, or a new trace starts', () => {
  assert.deepEqual(passOn(VALID, 'a=1'), { traceparent: VALID, tracestate: 'a=1' });
  assert.deepEqual(passOn(`02-${TRACE}-${SPAN}-01-x`, undefined), {
    traceparent: `00-${TRACE}-${SPAN}-01`,
    tracestate: undefined,
  });
  const fresh = passOn('junk', 'a=1');
  assert.ok(isValidTraceparent(fresh.traceparent));
  assert.equal(fresh.tracestate, undefined, 'no state without a valid traceparent');
});

test('the X-Ray form of a traceparent, as Lambda hands it to functions', () => {
  assert.equal(xrayTraceHeader(VALID), `Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${SPAN};Sampled=1`);
  assert.equal(
    xrayTraceHeader(`00-${TRACE}-${SPAN}-02`),
    `Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=${SPAN};Sampled=0`,
  );
  assert.equal(xrayTraceHeader('junk'), undefined);
});

test('an X-Amzn-Trace-Id read back as a traceparent, the inverse of the X-Ray form', () => {
  assert.equal(traceparentFromXray(xrayTraceHeader(VALID)), VALID);
  assert.equal(
    traceparentFromXray(`Sampled=0;Lineage=a:1;Parent=${SPAN};Root=1-4bf92f35-77b34da6a3ce929d0e0e4736`),
    `00-${TRACE}-${SPAN}-00`,
  );
  // No parent: a new span id stands in; a deferred decision (`?`) counts as sampled.
  const rootOnly = traceparentFromXray('Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Sampled=?');
  assert.ok(isValidTraceparent(rootOnly));
  assert.match(rootOnly!, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
  for (const bad of [
    undefined,
    ['Root=1-4bf92f35-77b34da6a3ce929d0e0e4736'],
    '',
    'Root=2-4bf92f35-77b34da6a3ce929d0e0e4736',
    'Root=1-4bf92f35-77b34da6a3ce929d0e0e473',
    'Root=1-00000000-000000000000000000000000',
    'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736x',
    `Root=1-4bf92f35-${'7'.repeat(600)}`,
  ])
    assert.equal(traceparentFromXray(bad), undefined, JSON.stringify(bad));
  // A bad parent is replaced, never passed on.
  assert.match(
    traceparentFromXray('Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=0000000000000000')!,
    new RegExp(`^00-${TRACE}-(?!0{16})[0-9a-f]{16}-01$`),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (value) => {
      const out = traceparentFromXray(value);
      assert.ok(out === undefined || isValidTraceparent(out));
    }),
  );
});

test('spans go to {base}/v1/traces', () => {
  assert.equal(tracesUrl('http://collector:4318'), 'http://collector:4318/v1/traces');
  assert.equal(tracesUrl('http://collector:4318/'), 'http://collector:4318/v1/traces');
  assert.equal(tracesUrl('https://x.example/otlp'), 'https://x.example/otlp/v1/traces');
});
