// Delivering a call's result to its X-Callback-Url: one POST with a deadline, so a target that hangs or
// refuses costs a bounded wait on a callback worker and never holds a function worker. Every address the
// target's name resolves to passes the callback policy before the connection is made (no DNS rebinding).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { CallbackPolicy } from './callback-policy.js';

export interface CallbackResult {
  ok: boolean;
  /** The target's status, when it answered. */
  status?: number;
  /** Why it failed (status, timeout, connection error). */
  error?: string;
  /** Worth trying again later (no answer, 408, 429, 5xx). */
  retryable: boolean;
}

/** A connection the policy refused (not worth retrying). */
class RefusedTarget extends Error {}

/** POSTs `body` to `url`; never throws. */
export async function postCallback(
  url: string,
  headers: readonly (readonly [string, string])[],
  body: Buffer,
  timeoutMs: number,
  policy: CallbackPolicy,
  signal?: AbortSignal,
): Promise<CallbackResult> {
  const refused = policy.checkUrl(url);
  if (refused !== undefined)
    return { ok: false, error: `the callback URL is not allowed: ${refused}`, retryable: false };
  const target = new URL(url);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, {
        method: 'POST',
        headers: headerObject(headers, body.length),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        lookup: checkedLookup(policy, target.hostname, port),
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.end(body);
    });
    res.resume();
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return { ok: true, status, retryable: false };
    const retryable = status === 408 || status === 429 || status >= 500;
    return { ok: false, status, error: `the callback target answered ${status}`, retryable };
  } catch (err) {
    if (err instanceof RefusedTarget)
      return { ok: false, error: `the callback URL is not allowed: ${err.message}`, retryable: false };
    const e = err as Error & { code?: string };
    const error = timeout.aborted
      ? `no answer within ${timeoutMs} ms`
      : signal?.aborted
        ? 'Nimbus was shutting down'
        : (e.code ?? e.message);
    return { ok: false, error: `the callback failed: ${error}`, retryable: true };
  }
}

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup, but an answer holding an address the policy refuses fails the connection. */
function checkedLookup(policy: CallbackPolicy, host: string, port: number) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      for (const { address } of addresses) {
        const refused = policy.checkConnect(host, address, port);
        if (refused !== undefined) return callback(new RefusedTarget(refused), '');
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

function headerObject(
  headers: readonly (readonly [string, string])[],
  length: number,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const seen = out[key];
    out[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  out['content-length'] = String(length);
  return out;
}
