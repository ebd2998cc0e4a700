// The invoke form: method, path, headers and body sent to /function/NAME from the browser; the answer's
// status, headers, body and timing, the call id with links to its log lines, and the same request as a
// command line.
import { useEffect, useRef, useState } from 'preact/hooks';
import { may, mayInvoke, useSession } from '../access.js';
import { curlCommand, type InvokeRequest, invokeCommand } from '../cli.js';
import { bytes, ms } from '../format.js';
import { href } from '../route.js';
import { CopyText, ErrorBanner, Panel, StatusBadge } from './common.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];
/** Shown of a response body at most; the rest is counted. */
const SHOWN_BODY_BYTES = 256 * 1024;
const QUALIFIER_RE = /^[A-Za-z0-9_-]{1,128}$/;

interface Result {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: string;
  bodyBytes: number;
  binary: boolean;
  totalMs: number;
  headMs: number;
  /** When the request was sent (this browser's clock). */
  sentAt: number;
  redirected: boolean;
}

/** `Name: value` lines; an error names the first line that is not one. */
export function parseHeaders(text: string): [string, string][] {
  const headers: [string, string][] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`header line ${i + 1} must look like "Name: value"`);
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return headers;
}

function isText(contentType: string | null): boolean {
  if (!contentType) return true;
  return /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|[\w.+-]+\+(json|xml)))|charset=/i.test(
    contentType,
  );
}

export function InvokeForm({
  namespace,
  name,
  isPrivate,
}: {
  namespace: string;
  name: string;
  /** Whether the function is private; undefined when the credential may not see its spec. */
  isPrivate?: boolean | undefined;
}) {
  const { api, who } = useSession();
  const [method, setMethod] = useState('POST');
  const [qualifier, setQualifier] = useState('');
  const [path, setPath] = useState('');
  const [headerText, setHeaderText] = useState('content-type: application/json');
  const [body, setBody] = useState('{"hello": "world"}');
  // The key goes along where it is needed: to a private function (or one whose spec this key may not see).
  const [sendKey, setSendKey] = useState(mayInvoke(who, namespace, name) && isPrivate !== false);
  const keyTouched = useRef(false);
  useEffect(() => {
    if (!keyTouched.current) setSendKey(mayInvoke(who, namespace, name) && isPrivate !== false);
  }, [isPrivate]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [result, setResult] = useState<Result>();

  let request: InvokeRequest | undefined;
  let formError: string | undefined;
  try {
    const headers = parseHeaders(headerText);
    const suffix = path === '' || path.startsWith('/') || path.startsWith('?') ? path : `/${path}`;
    if (qualifier !== '' && !QUALIFIER_RE.test(qualifier))
      throw new Error('a version or alias is letters, digits, "-" or "_"');
    request = {
      name: qualifier ? `${name}@${qualifier}` : name,
      namespace,
      method,
      path: suffix,
      headers,
      body: method === 'GET' || method === 'HEAD' ? '' : body,
      withKey: sendKey,
    };
  } catch (err) {
    formError = (err as Error).message;
  }

  const send = async (event: Event) => {
    event.preventDefault();
    if (!request) return;
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    const id =
      namespace === 'default' ? request.name : `${name}.${namespace}${qualifier ? `@${qualifier}` : ''}`;
    const headers = new Headers();
    for (const [k, v] of request.headers) headers.append(k, v);
    if (sendKey && !headers.has('authorization')) headers.set('authorization', api.authorization);
    const sentAt = Date.now();
    const started = performance.now();
    try {
      const res = await fetch(`/function/${id}${request.path}`, {
        method,
        headers,
        ...(request.body === '' ? {} : { body: request.body }),
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'manual',
      });
      const headMs = performance.now() - started;
      const buffer = new Uint8Array(await res.arrayBuffer());
      const totalMs = performance.now() - started;
      const binary = !isText(res.headers.get('content-type'));
      let text = binary ? '' : new TextDecoder().decode(buffer.subarray(0, SHOWN_BODY_BYTES));
      if (
        !binary &&
        /json/i.test(res.headers.get('content-type') ?? '') &&
        buffer.length <= SHOWN_BODY_BYTES
      ) {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          // shown as it came
        }
      }
      setResult({
        status: res.status,
        statusText: res.statusText,
        headers: [...res.headers.entries()],
        body: text,
        bodyBytes: buffer.length,
        binary,
        totalMs,
        headMs,
        sentAt,
        redirected: res.type === 'opaqueredirect',
      });
    } catch (err) {
      setError(new Error(`the request failed: ${(err as Error).message}`));
    } finally {
      setBusy(false);
    }
  };

  const header = (n: string) => result?.headers.find(([k]) => k === n)?.[1];
  const callId = header('x-call-id');
  const durationS = header('x-duration-seconds');
  const waitMs = header('x-nimbus-wait-ms');
  const initMs = header('x-nimbus-init-ms');
  return (
    <>
      <Panel title="Request">
        <form class="stack" onSubmit={send} aria-label="invoke">
          <div class="row">
            <label>
              method
              <select name="method" value={method} onChange={(e) => setMethod(e.currentTarget.value)}>
                {METHODS.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            </label>
            <label>
              version or alias
              <input
                name="qualifier"
                size={10}
                placeholder="current"
                value={qualifier}
                onInput={(e) => setQualifier(e.currentTarget.value)}
              />
            </label>
            <label class="grow">
              path and query
              <input
                name="path"
                placeholder="/sub/path?x=1"
                value={path}
                onInput={(e) => setPath(e.currentTarget.value)}
              />
            </label>
          </div>
          <label>
            headers (one "Name: value" a line)
            <textarea
              name="headers"
              rows={3}
              value={headerText}
              onInput={(e) => setHeaderText(e.currentTarget.value)}
            />
          </label>
          {method === 'GET' || method === 'HEAD' ? null : (
            <label>
              body
              <textarea name="body" rows={6} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
            </label>
          )}
          <label class="inline">
            <input
              type="checkbox"
              name="sendKey"
              checked={sendKey}
              onChange={(e) => {
                keyTouched.current = true;
                setSendKey(e.currentTarget.checked);
              }}
            />
            send my key (a private function needs a key that may invoke it; Nimbus strips it before the
            function sees the request)
          </label>
          {formError ? <div class="error">{formError}</div> : null}
          <div class="row">
            <button class="primary" type="submit" disabled={busy || request === undefined}>
              {busy ? 'Sending…' : 'Send'}
            </button>
          </div>
        </form>
        {request ? (
          <>
            <CopyText label="nimbus command" text={invokeCommand(request)} />
            <CopyText label="curl command" text={curlCommand(location.origin, request)} />
          </>
        ) : null}
      </Panel>
      <ErrorBanner error={error} />
      {result ? (
        <Panel title="Response">
          <div class="row" data-testid="invoke-result">
            <StatusBadge status={result.status} />
            <span>
              {result.redirected ? 'a redirect (the browser does not show where to)' : result.statusText}
            </span>
            <span>
              {ms(result.totalMs)} in all · head after {ms(result.headMs)}
            </span>
            {durationS ? <span class="muted">gateway {ms(Number(durationS) * 1000)}</span> : null}
            {waitMs ? <span class="muted">waited {ms(Number(waitMs))}</span> : null}
            {initMs ? <span class="cold">cold start, init {ms(Number(initMs))}</span> : null}
            <span class="muted">{bytes(result.bodyBytes)}</span>
          </div>
          {callId ? (
            <p>
              call <code class="call-id">{callId}</code>
              {may(who, 'read', namespace, name) ? (
                <>
                  {' · '}
                  <a href={href('ns', namespace, 'fn', name, 'logs', { call: callId })}>
                    log lines with this call id
                  </a>
                </>
              ) : null}
            </p>
          ) : null}
          {result.binary ? (
            <p class="muted">binary body ({bytes(result.bodyBytes)}), not shown</p>
          ) : (
            <pre class="response-body">
              {result.body}
              {result.bodyBytes > SHOWN_BODY_BYTES
                ? `\n… ${bytes(result.bodyBytes - SHOWN_BODY_BYTES)} more`
                : ''}
            </pre>
          )}
          <details>
            <summary>headers ({result.headers.length})</summary>
            <pre>{result.headers.map(([k, v]) => `${k}: ${v}`).join('\n')}</pre>
          </details>
        </Panel>
      ) : null}
    </>
  );
}
