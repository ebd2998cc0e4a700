// Async calls and dead letters: filter by function and status, open one (its response or error), redrive a
// dead one or every dead one.
import { useState } from 'preact/hooks';
import { may, useSession } from '../access.js';
import { query } from '../api.js';
import { ago, ms, time } from '../format.js';
import { useLoad } from '../hooks.js';
import { href, navigate } from '../route.js';
import { callListSchema, callSchema, functionListSchema, redriveAllSchema } from '../schemas.js';
import { Badge, ErrorBanner, Panel, StatusBadge } from './common.js';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'dead'];
const EVERY = '*';

function tone(status: string): 'ok' | 'warn' | 'bad' | undefined {
  return status === 'succeeded'
    ? 'ok'
    : status === 'dead' || status === 'failed'
      ? 'bad'
      : status === 'running'
        ? 'warn'
        : undefined;
}

/** The logs view of a call's function (its id is `name` or `name.namespace`), filtered to the call. */
function callLogs(id: string, call: string): string {
  const dot = id.indexOf('.');
  const [name, namespace] = dot === -1 ? [id, 'default'] : [id.slice(0, dot), id.slice(dot + 1)];
  return href('ns', namespace, 'fn', name, 'logs', { call });
}

function functionId(namespace: string, name: string): string {
  return namespace === 'default' ? name : `${name}.${namespace}`;
}

export function CallsPage({
  namespace,
  fn,
  query: params,
}: {
  namespace: string;
  fn?: string;
  query: URLSearchParams;
}) {
  const { api, who } = useSession();
  const global = who.namespace === '*' && who.functions === '*';
  const functions = useLoad(
    async () =>
      fn
        ? [fn]
        : (await api.get(`/api/v1/functions${query({ namespace })}`, functionListSchema)).functions.map(
            (f) => f.name,
          ),
    [namespace, fn],
  );
  const chosen = fn ?? params.get('function') ?? (global ? EVERY : functions.data?.[0]);
  const status = params.get('status') ?? '';
  const open = params.get('call') ?? '';
  const here = (changes: Record<string, string>) => {
    const next: Record<string, string> = {
      status,
      call: open,
      ...(fn ? {} : { function: chosen ?? '' }),
      ...changes,
    };
    for (const k of Object.keys(next)) if (next[k] === '') delete next[k];
    return fn ? href('ns', namespace, 'fn', fn, 'calls', next) : href('ns', namespace, 'calls', next);
  };
  const target = chosen === undefined || chosen === EVERY ? undefined : functionId(namespace, chosen);
  const calls = useLoad(
    async () =>
      chosen === undefined
        ? undefined
        : api.get(
            `/system/calls${query({ function: target, status: status || undefined, limit: 50 })}`,
            callListSchema,
          ),
    [chosen, status, namespace],
    5000,
  );
  const detail = useLoad(
    async () => (open ? api.get(`/system/calls/${encodeURIComponent(open)}`, callSchema) : undefined),
    [open],
  );
  const [error, setError] = useState<Error>();
  const [notice, setNotice] = useState('');
  const canRedrive = (id: string) => {
    const dot = id.indexOf('.');
    return dot === -1
      ? may(who, 'deploy', 'default', id)
      : may(who, 'deploy', id.slice(dot + 1), id.slice(0, dot));
  };
  const redrive = async (id: string) => {
    setError(undefined);
    try {
      await api.send('POST', `/system/calls/${encodeURIComponent(id)}/redrive`, undefined, callSchema);
      setNotice(`call ${id} queued again`);
      calls.reload();
      detail.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const redriveAll = async () => {
    setError(undefined);
    try {
      const { redriven } = await api.send(
        'POST',
        `/system/calls/redrive${query({ function: target })}`,
        undefined,
        redriveAllSchema,
      );
      setNotice(`${redriven} dead call${redriven === 1 ? '' : 's'} queued again`);
      calls.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const counts = calls.data?.counts ?? {};
  return (
    <>
      {fn ? null : <h2>Async calls</h2>}
      <div class="row">
        {fn ? null : (
          <label>
            function
            <select
              name="function"
              value={chosen ?? ''}
              onChange={(e) => navigate(here({ function: e.currentTarget.value, call: '' }))}
            >
              {global ? <option value={EVERY}>every function, every namespace</option> : null}
              {(functions.data ?? []).map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          status
          <select
            name="status"
            value={status}
            onChange={(e) => navigate(here({ status: e.currentTarget.value, call: '' }))}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s} ({counts[s] ?? 0})
              </option>
            ))}
          </select>
        </label>
        {(counts.dead ?? 0) > 0 && (target ? canRedrive(target) : global) ? (
          <button type="button" onClick={redriveAll}>
            Redrive all dead ({counts.dead})
          </button>
        ) : null}
      </div>
      <div class="row">
        {STATUSES.map((s) => (
          <Badge key={s} tone={tone(s)}>
            {s} {counts[s] ?? 0}
          </Badge>
        ))}
      </div>
      {notice ? <p class="notice">{notice}</p> : null}
      <ErrorBanner error={error ?? functions.error ?? calls.error} />
      {functions.data && functions.data.length === 0 && !global ? (
        <p class="muted">No functions in this namespace.</p>
      ) : null}
      {calls.data ? (
        <section class="panel table-wrap">
          {calls.data.calls.length === 0 ? (
            <p class="muted">No async calls{status ? ` with status ${status}` : ''}.</p>
          ) : null}
          {calls.data.calls.length > 0 ? (
            <table>
              <thead>
                <tr>
                  <th>call</th>
                  {target ? null : <th>function</th>}
                  <th>status</th>
                  <th class="num">attempts</th>
                  <th>HTTP</th>
                  <th>created</th>
                  <th class="num">took</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {calls.data.calls.map((c) => (
                  <tr key={c.id} data-call={c.id} data-status={c.status}>
                    <td class="mono call-id">
                      <a href={here({ call: c.id })}>{c.id}</a>
                    </td>
                    {target ? null : <td>{c.function}</td>}
                    <td>
                      <Badge tone={tone(c.status)}>{c.status}</Badge>
                    </td>
                    <td class="num">{c.attempts}</td>
                    <td>
                      {c.response ? <StatusBadge status={c.response.status} /> : (c.error?.code ?? '–')}
                    </td>
                    <td title={time(c.createdAt)}>{ago(c.createdAt)}</td>
                    <td class="num">{ms(c.durationMs)}</td>
                    <td>
                      {c.status === 'dead' && canRedrive(c.function) ? (
                        <button type="button" onClick={() => redrive(c.id)}>
                          Redrive
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </section>
      ) : null}
      {open ? (
        <Panel title={`Call ${open}`} actions={<a href={here({ call: '' })}>close</a>}>
          <ErrorBanner error={detail.error} />
          {detail.data ? (
            <>
              <p>
                <Badge tone={tone(detail.data.status)}>{detail.data.status}</Badge> · {detail.data.attempts}{' '}
                attempt
                {detail.data.attempts === 1 ? '' : 's'}, {detail.data.errors} failed, {detail.data.redrives}{' '}
                redrive
                {detail.data.redrives === 1 ? '' : 's'} · created {time(detail.data.createdAt)}
                {detail.data.finishedAt ? ` · finished ${time(detail.data.finishedAt)}` : ''}
                {detail.data.nextAttemptAt ? ` · next try ${time(detail.data.nextAttemptAt)}` : ''}
              </p>
              {detail.data.error ? (
                <div class="error">
                  {detail.data.error.code}: {detail.data.error.message}
                </div>
              ) : null}
              {detail.data.response ? (
                <>
                  <p>
                    response <StatusBadge status={detail.data.response.status} /> ·{' '}
                    {detail.data.response.bodyBytes} bytes
                    {detail.data.response.truncated ? ' (stored in part)' : ''}
                  </p>
                  <pre>
                    {detail.data.response.body ?? `(binary, base64) ${detail.data.response.bodyBase64 ?? ''}`}
                  </pre>
                </>
              ) : null}
              <p>
                <a href={callLogs(detail.data.function, open)}>log lines with this call id</a>
              </p>
              {detail.data.status === 'dead' && canRedrive(detail.data.function) ? (
                <button type="button" class="primary" onClick={() => redrive(open)}>
                  Redrive this call
                </button>
              ) : null}
            </>
          ) : null}
        </Panel>
      ) : null}
    </>
  );
}
