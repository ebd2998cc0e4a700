// W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing `traceparent` and `tracestate` strictly,
// formatting them, and making new trace and span ids. Pure and cheap: the invoke path calls it on every request.
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** A parsed `traceparent`: the caller's trace, the caller's span (our parent) and the trace flags. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero: the span of the caller. */
  spanId: string;
  /** The trace-flags byte (bit 0: sampled). */
  flags: number;
}

/** The header a caller sends, as this spec's version 00 writes it: `00-{traceId}-{spanId}-{flags}`. */
export const TRACEPARENT_LENGTH = 55;

/** Bytes of randomness drawn at once: ids are cut from it, so a request costs no call into the kernel. */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** Takes `bytes` random bytes from the pool (refilled when short): their offset in `pool`. */
function take(bytes: number): number {
  if (poolOffset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += bytes;
  return at;
}

function allZero(from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (pool[i] !== 0) return false;
  return true;
}

/** A random trace id: 32 lowercase hex digits, never all zero. */
export function newTraceId(): string {
  for (;;) {
    const at = take(16);
    if (!allZero(at, at + 16)) return pool.toString('hex', at, at + 16);
  }
}

/** A random span id: 16 lowercase hex digits, never all zero. */
export function newSpanId(): string {
  for (;;) {
    const at = take(8);
    if (!allZero(at, at + 8)) return pool.toString('hex', at, at + 8);
  }
}

/** `traceparent` of a new trace whose caller recorded nothing (sampled flag off). */
export function newTraceparent(): string {
  const at = take(24);
  // Both ids from one hex conversion; an all-zero id (2^-64 at worst) is drawn again.
  if (allZero(at, at + 16) || allZero(at + 16, at + 24)) return newTraceparent();
  const hex = pool.toString('hex', at, at + 24);
  return `00-${hex.slice(0, 32)}-${hex.slice(32)}-00`;
}

export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${flags < 16 ? '0' : ''}${flags.toString(16)}`;
}

/** Version 00: exactly these four fields, lowercase hex (`HEXDIGLC`), neither id all zeros. */
const VERSION_00_RE = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/**
 * A later version (01–fe; ff is invalid) read as a version-00 reader must (§3.2.4 "Versioning of
 * traceparent"): the same first four fields, and after them nothing or a `-` and whatever that version adds.
 */
const LATER_VERSION_RE = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(?:-|$)/;

/**
 * Whether `value` is a `traceparent` to continue: version 00 of exactly 55 characters, or a later version
 * read as the spec asks. Version ff, uppercase hex, an all-zero trace or span id, a wrong length or
 * separator: invalid. An array (a header sent twice) is invalid too.
 */
export function isValidTraceparent(value: string | string[] | undefined): value is string {
  if (typeof value !== 'string') return false;
  return value.length === TRACEPARENT_LENGTH && value.startsWith('00')
    ? VERSION_00_RE.test(value)
    : value.length >= TRACEPARENT_LENGTH && !value.startsWith('00') && LATER_VERSION_RE.test(value);
}

/** The parsed `traceparent`, or undefined when it is not one to continue (see isValidTraceparent). */
export function parseTraceparent(value: string | string[] | undefined): TraceParent | undefined {
  if (!isValidTraceparent(value)) return undefined;
  return {
    traceId: value.slice(3, 35),
    spanId: value.slice(36, 52),
    flags: Number.parseInt(value.slice(53, 55), 16),
  };
}

/**
 * A valid `traceparent` as version 00 writes it, to pass on: itself, or a later version's first four fields
 * with the version set to 00.
 */
export function asVersion00(valid: string): string {
  return valid.length === TRACEPARENT_LENGTH && valid.charCodeAt(0) === 48 && valid.charCodeAt(1) === 48
    ? valid
    : `00${valid.slice(2, TRACEPARENT_LENGTH)}`;
}

/** Most list members a `tracestate` may hold. */
export const TRACESTATE_MAX_MEMBERS = 32;
/** simple-key, or tenant@system (§3.3.1.3.1). */
const TRACESTATE_KEY_RE =
  /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
/** 1-256 printable ASCII characters but `,` and `=`, not ending in a space (§3.3.1.3.2). */
const TRACESTATE_VALUE_RE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * A `tracestate` to pass on: its list members, trimmed and joined by `,` (empty members dropped), or
 * undefined when it is absent, empty, or invalid anywhere (a bad key or value, a key twice, more than 32
 * members): an invalid one is dropped whole, never passed on in part.
 */
export function parseTracestate(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const joined = typeof value === 'string' ? value : value.join(',');
  if (joined.length === 0) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of joined.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq === -1) return undefined;
    const key = member.slice(0, eq);
    if (!TRACESTATE_KEY_RE.test(key) || !TRACESTATE_VALUE_RE.test(member.slice(eq + 1)) || keys.has(key))
      return undefined;
    keys.add(key);
    members.push(member);
    if (members.length > TRACESTATE_MAX_MEMBERS) return undefined;
  }
  return members.length === 0 ? undefined : members.join(',');
}

/**
 * The AWS X-Ray form of a trace context, as Lambda gives it to a function (`_X_AMZN_TRACE_ID`,
 * `Lambda-Runtime-Trace-Id`, `context.xRayTraceId`): the W3C trace id split after its first 8 digits
 * (X-Ray reads them as the epoch seconds), the parent span and the sampled flag.
 */
export function xrayTraceHeader(traceparent: string): string | undefined {
  const parent = parseTraceparent(traceparent);
  if (!parent) return undefined;
  const { traceId, spanId, flags } = parent;
  return `Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${spanId};Sampled=${flags & 1}`;
}

/** X-Ray's trace id: version 1, eight hex digits of epoch seconds, 24 more. */
const XRAY_ROOT_RE = /^1-([0-9a-f]{8})-([0-9a-f]{24})$/;
const XRAY_PARENT_RE = /^(?!0{16})[0-9a-f]{16}$/;

/**
 * The W3C form of an `X-Amzn-Trace-Id` (`Root=1-…-…;Parent=…;Sampled=0|1|?`, fields in any order), the
 * inverse of xrayTraceHeader: what the AWS SDK sends from inside a Lambda function (its recursion detection
 * copies `_X_AMZN_TRACE_ID`), so a call made through the SDK continues the caller's trace. Without a Parent a
 * new span id stands in; `Sampled` other than 0 counts as sampled. Undefined when there is no valid Root.
 */
export function traceparentFromXray(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  let root: string | undefined;
  let parent: string | undefined;
  let sampled: string | undefined;
  for (const field of value.split(';')) {
    const eq = field.indexOf('=');
    if (eq === -1) continue;
    const name = field.slice(0, eq).trim();
    const v = field
      .slice(eq + 1)
      .trim()
      .toLowerCase();
    if (name === 'Root') root = v;
    else if (name === 'Parent') parent = v;
    else if (name === 'Sampled') sampled = v;
  }
  const m = root === undefined ? null : XRAY_ROOT_RE.exec(root);
  if (!m) return undefined;
  const traceId = `${m[1]}${m[2]}`;
  if (/^0+$/.test(traceId)) return undefined;
  const spanId = parent !== undefined && XRAY_PARENT_RE.test(parent) ? parent : newSpanId();
  return formatTraceparent(traceId, spanId, sampled === '0' ? 0 : 1);
}

/**
 * The caller's trace context as request headers for the call to continue: W3C `traceparent` (and
 * `tracestate`) when valid, else the W3C form of an `X-Amzn-Trace-Id`, else the caller's traceparent as it
 * came (a malformed one starts a new trace downstream, where it is checked again).
 */
export function callerTraceHeaders(headers: IncomingHttpHeaders): [string, string][] {
  const { traceparent, tracestate } = headers;
  if (isValidTraceparent(traceparent)) {
    return typeof tracestate === 'string'
      ? [
          ['traceparent', traceparent],
          ['tracestate', tracestate],
        ]
      : [['traceparent', traceparent]];
  }
  const fromXray = traceparentFromXray(headers['x-amzn-trace-id']);
  if (fromXray !== undefined) return [['traceparent', fromXray]];
  return typeof traceparent === 'string' ? [['traceparent', traceparent]] : [];
}
