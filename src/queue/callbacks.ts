// Delivering a call's result to its X-Callback-Url: one POST with a deadline, so a target that hangs or
// refuses costs a bounded wait on a callback worker and never holds a function worker.

export interface CallbackResult {
  ok: boolean;
  /** The target's status, when it answered. */
  status?: number;
  /** Why it failed (status, timeout, connection error). */
  error?: string;
  /** Worth trying again later (no answer, 408, 429, 5xx). */
  retryable: boolean;
}

/** POSTs `body` to `url`; never throws. */
export async function postCallback(
  url: string,
  headers: readonly (readonly [string, string])[],
  body: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<CallbackResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: headers.map(([k, v]) => [k, v]),
      body,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, retryable: false };
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    return { ok: false, status: res.status, error: `the callback target answered ${res.status}`, retryable };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const error = timeout.aborted
      ? `no answer within ${timeoutMs} ms`
      : signal?.aborted
        ? 'Nimbus was shutting down'
        : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, error: `the callback failed: ${error}`, retryable: true };
  }
}
