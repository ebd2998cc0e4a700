// A function's log lines, live: /system/logs?follow=true read as a stream of NDJSON, filtered here by call id
// (or any text), and narrowed to one instance and a time window when opened from a call.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { useSession } from '../access.js';
import { query } from '../api.js';
import { time } from '../format.js';
import { href } from '../route.js';
import { type LogLine, logLineSchema } from '../schemas.js';
import { ErrorBanner } from './common.js';

/** Lines kept in the page; older ones are dropped. */
const MAX_LINES = 2000;
/** Lines asked for when the tail opens. */
const TAIL_LINES = 500;

type State = 'connecting' | 'live' | 'ended';

export function LogsTab({
  namespace,
  name,
  filter,
  instance,
  from,
  to,
}: {
  namespace: string;
  name: string;
  /** A call id or any text a line must contain. */
  filter: string;
  /** Only this instance's lines. */
  instance: string;
  /** Only lines taken in [from, to] (epoch ms, the gateway's clock). */
  from: string;
  to: string;
}) {
  const { api } = useSession();
  const [lines, setLines] = useState<LogLine[]>([]);
  const [follow, setFollow] = useState(true);
  const [text, setText] = useState(filter);
  const [state, setState] = useState<State>('connecting');
  const [error, setError] = useState<Error>();
  const box = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);

  useEffect(() => setText(filter), [filter]);

  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setError(undefined);
    setState('connecting');
    (async () => {
      const res = await api.fetch(
        `/system/logs${query({ name, namespace, tail: TAIL_LINES, follow: follow ? 'true' : undefined, instance: instance || undefined })}`,
        { signal: abort.signal },
      );
      setState(follow ? 'live' : 'ended');
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let pending = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const parts = pending.split('\n');
        pending = parts.pop()!;
        const batch: LogLine[] = [];
        for (const part of parts) {
          if (part.trim() === '') continue;
          let value: unknown;
          try {
            value = JSON.parse(part);
          } catch {
            continue;
          }
          const parsed = logLineSchema.safeParse(value);
          if (parsed.success) batch.push(parsed.data);
        }
        if (batch.length) setLines((old) => [...old, ...batch].slice(-MAX_LINES));
      }
      setState('ended');
    })().catch((err: Error) => {
      if (abort.signal.aborted) return;
      setError(err);
      setState('ended');
    });
    return () => abort.abort();
  }, [api, name, namespace, follow, instance]);

  const fromMs = from ? Number(from) : undefined;
  const toMs = to ? Number(to) : undefined;
  const needle = text.trim();
  const shown = lines.filter((line) => {
    if (needle && line.callId !== needle && !line.text.includes(needle)) return false;
    if (fromMs !== undefined || toMs !== undefined) {
      const at = Date.parse(line.timestamp);
      if (fromMs !== undefined && at < fromMs) return false;
      if (toMs !== undefined && at > toMs) return false;
    }
    return true;
  });

  // Stays at the bottom as lines arrive, unless the reader scrolled up.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  });

  return (
    <>
      <div class="row">
        <label class="grow">
          call id or text
          <input
            name="filter"
            placeholder="a call id (X-Call-Id) or any text"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </label>
        <label class="inline">
          <input
            type="checkbox"
            name="follow"
            checked={follow}
            onChange={(e) => setFollow(e.currentTarget.checked)}
          />
          follow
        </label>
        <button type="button" onClick={() => setLines([])}>
          Clear
        </button>
        <span class={`badge ${state === 'live' ? 'ok' : ''}`} data-testid="tail-state">
          {state}
        </span>
      </div>
      {instance || from || to ? (
        <p class="notice">
          Lines of instance <code>{instance || 'any'}</code>
          {fromMs !== undefined ? ` from ${time(fromMs)}` : ''}
          {toMs !== undefined ? ` to ${time(toMs)}` : ''}: those the instance wrote while the call ran (with
          concurrency above 1 they may include other calls' lines).{' '}
          <a href={href('ns', namespace, 'fn', name, 'logs')}>all lines</a>
        </p>
      ) : null}
      <ErrorBanner error={error} />
      <div
        class="logs"
        ref={box}
        role="log"
        aria-live="polite"
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {shown.map((line, i) => (
          <div class="line" key={`${line.timestamp}-${i}`}>
            <span class="meta">
              {time(line.timestamp)} {line.instance.slice(-8)}
            </span>
            {line.text}
          </div>
        ))}
        {shown.length === 0 ? (
          <div class="muted">{lines.length ? 'no line matches' : 'no lines yet'}</div>
        ) : null}
      </div>
      <p class="muted">
        {shown.length} of {lines.length} lines shown. Nimbus keeps recent lines in memory; the same as{' '}
        <code>
          nimbus logs {name}
          {namespace === 'default' ? '' : ` --namespace ${namespace}`} --follow
        </code>
        .
      </p>
    </>
  );
}
