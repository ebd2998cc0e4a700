// AWS Signature Version 4 verification, as @aws-sdk clients sign (service `lambda`, region from the
// credential scope): the canonical request is rebuilt from the raw request, including the double-encoded
// path of non-S3 services (an ARN's `%3A` is signed as `%253A`), and the payload hash is checked too.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** How far a request's X-Amz-Date may be from the server's clock (AWS allows 5 minutes; 15 is lenient). */
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface SignedRequestParts {
  method: string;
  /** The request target as received: raw path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Hex sha256 of the body as received. */
  bodySha256: string;
}

export type SigV4Failure =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException';

export type SigV4Result =
  | { ok: true; accessKeyId: string; region: string }
  | { ok: false; type: SigV4Failure; message: string };

const AUTH_RE =
  /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request\s*,\s*SignedHeaders=([a-z0-9;_-]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/i;

function hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function sha256Hex(body: Buffer): string {
  return hex(body);
}

function hmac(key: string | Buffer, value: string): Buffer {
  return createHmac('sha256', key).update(value).digest();
}

/** RFC 3986 escaping, as the SDK's escapeUri: encodeURIComponent plus `!'()*`. */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The SDK's canonical path: dot segments and empty segments removed, then the raw path escaped again. */
export function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  const normalised = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${trailing}`;
  return escapeUri(normalised).replace(/%2F/g, '/');
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Query parameters decoded, then escaped and sorted as the SDK signs them. */
export function canonicalQuery(rawQuery: string): string {
  const byKey = new Map<string, string[]>();
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = escapeUri(safeDecode(eq === -1 ? part : part.slice(0, eq)));
    if (key.toLowerCase() === 'x-amz-signature') continue;
    const value = escapeUri(safeDecode(eq === -1 ? '' : part.slice(eq + 1)));
    const list = byKey.get(key) ?? [];
    list.push(`${key}=${value}`);
    byKey.set(key, list);
  }
  return [...byKey.keys()]
    .sort()
    .map((key) => byKey.get(key)!.sort().join('&'))
    .join('&');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value.join(',') : String(value)).trim().replace(/\s+/g, ' ');
}

/** `20261127T184713Z` → epoch ms; NaN when malformed. */
function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/** The signing key: HMAC chain over date, region, service and "aws4_request". */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** Signs a request's parts (the test helper and the verifier share it). */
export function signature(
  parts: Omit<SignedRequestParts, 'headers'> & { headers: IncomingHttpHeaders },
  signedHeaders: readonly string[],
  scope: { secret: string; date: string; region: string; service: string; amzDate: string },
  payloadHash: string,
): string {
  const q = parts.url.indexOf('?');
  const rawPath = q === -1 ? parts.url : parts.url.slice(0, q);
  const rawQuery = q === -1 ? '' : parts.url.slice(q + 1);
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${headerValue(parts.headers, name) ?? ''}\n`);
  const canonicalRequest = [
    parts.method.toUpperCase(),
    canonicalPath(rawPath),
    canonicalQuery(rawQuery),
    canonicalHeaders.join(''),
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [SIGV4_ALGORITHM, scope.amzDate, credentialScope, hex(canonicalRequest)].join('\n');
  return createHmac('sha256', signingKey(scope.secret, scope.date, scope.region, scope.service))
    .update(stringToSign)
    .digest('hex');
}

/**
 * Verifies a request signed with SigV4 in its Authorization header. `secretOf` looks up an access key's
 * secret. Presigned URLs (signature in the query) are not accepted: the SDK's clients never send them.
 */
export function verifySigV4(
  parts: SignedRequestParts,
  secretOf: (accessKeyId: string) => string | undefined,
  options: {
    service: string;
    now: number;
    /** Checks all but the payload and the signature (before the body is read). */
    headerOnly?: boolean;
  },
): SigV4Result {
  const authorization = parts.headers.authorization;
  if (!authorization?.startsWith(SIGV4_ALGORITHM)) {
    return {
      ok: false,
      type: 'MissingAuthenticationTokenException',
      message:
        'Missing Authentication Token: sign the request with AWS Signature Version 4 (an access key from `nimbus keys create`)',
    };
  }
  const m = AUTH_RE.exec(authorization);
  if (!m) {
    return {
      ok: false,
      type: 'IncompleteSignatureException',
      message: 'Authorization header requires Credential, SignedHeaders and Signature parameters.',
    };
  }
  const [, accessKeyId, date, region, service, signedList, presented] = m as unknown as string[];
  if (service !== options.service) {
    return {
      ok: false,
      type: 'InvalidSignatureException',
      message: `Credential should be scoped to correct service: '${options.service}'.`,
    };
  }
  const amzDate = headerValue(parts.headers, 'x-amz-date') ?? '';
  const signedAt = parseAmzDate(amzDate);
  if (Number.isNaN(signedAt) || amzDate.slice(0, 8) !== date) {
    return {
      ok: false,
      type: 'IncompleteSignatureException',
      message: 'X-Amz-Date must be set (yyyyMMddTHHmmssZ) and match the date of the credential scope.',
    };
  }
  if (Math.abs(options.now - signedAt) > MAX_CLOCK_SKEW_MS) {
    return {
      ok: false,
      type: 'InvalidSignatureException',
      message: `Signature expired: ${amzDate} is more than 15 minutes from the server's time ${new Date(options.now).toISOString()}; check the client's clock.`,
    };
  }
  const signedHeaders = signedList!.toLowerCase().split(';');
  if (!signedHeaders.includes('host')) {
    return { ok: false, type: 'InvalidSignatureException', message: "'Host' must be a signed header." };
  }
  const secret = secretOf(accessKeyId!);
  if (secret === undefined) {
    return {
      ok: false,
      type: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    };
  }
  if (options.headerOnly) return { ok: true, accessKeyId: accessKeyId!, region: region! };
  const declared = headerValue(parts.headers, 'x-amz-content-sha256');
  if (
    declared !== undefined &&
    declared !== UNSIGNED_PAYLOAD &&
    declared.toLowerCase() !== parts.bodySha256
  ) {
    return {
      ok: false,
      type: 'InvalidSignatureException',
      message: 'The provided x-amz-content-sha256 header does not match what was computed.',
    };
  }
  const expected = signature(
    parts,
    signedHeaders,
    { secret, date: date!, region: region!, service: service!, amzDate },
    declared ?? parts.bodySha256,
  );
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(presented!.toLowerCase()))) {
    return {
      ok: false,
      type: 'InvalidSignatureException',
      message:
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    };
  }
  return { ok: true, accessKeyId: accessKeyId!, region: region! };
}
