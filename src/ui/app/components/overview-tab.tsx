// A function at a glance: its counters, charts of the last 15 or 60 minutes, its recent calls (sync and
// async, with status, duration and cold-start marker) and its instances.
import { useState } from 'preact/hooks';
import { useSession } from '../access.js';
import { query } from '../api.js';
import { ms, time } from '../format.js';
import { useLoad } from '../hooks.js';
import { href } from '../route.js';
import { type FunctionView, functionActivitySchema, type RecentCall } from '../schemas.js';
import { ActivityCharts } from './charts.js';
import { ErrorBanner, Panel, StatusBadge } from './common.js';

function Stat({ label, value }: { label: string; value: string | number }) {
  return (
    <div class="stat">
      <div class="label">{label}</div>
      <div class="value">{value}</div>
    </div>
  );
}

/**
 * A link to the log lines of `call`: those tagged with its id, or (from a gateway that does not tag lines) those
 * the instance that served it wrote while it ran.
 */
export function callLogsHref(namespace: string, name: string, call: RecentCall): string | undefined {
  if (call.callId) return href('ns', namespace, 'fn', name, 'logs', { call: call.callId });
  if (!call.instance) return undefined;
  return href('ns', namespace, 'fn', name, 'logs', {
    instance: call.instance,
    from: String(Math.floor(call.at - call.durationMs - 100)),
    to: String(Math.ceil(call.at + 100)),
  });
}

export function OverviewTab({
  namespace,
  name,
  fn,
}: {
  namespace: string;
  name: string;
  fn: FunctionView | undefined;
}) {
  const { api } = useSession();
  const [minutes, setMinutes] = useState(15);
  const activity = useLoad(
    () =>
      api.get(
        `/api/v1/functions/${encodeURIComponent(name)}/activity${query({ namespace, minutes, recent: 50 })}`,
        functionActivitySchema,
      ),
    [namespace, name, minutes],
    5000,
  );
  const series = activity.data?.series;
  const calls = series ? series.calls.reduce((a, b) => a + b, 0) : 0;
  return (
    <>
      <ErrorBanner error={activity.error} />
      {fn ? (
        <div class="stats">
          <Stat label="calls (all time)" value={fn.invocations} />
          <Stat label="errors (all time)" value={fn.errors} />
          <Stat label={`calls (${minutes} min)`} value={calls} />
          <Stat label="instances" value={`${fn.instances}${fn.starting ? ` +${fn.starting}` : ''}`} />
          <Stat label="in flight" value={fn.inflight} />
          <Stat label="queued" value={fn.queued} />
        </div>
      ) : null}
      {fn?.lastError ? <div class="error">last start error: {fn.lastError}</div> : null}
      <div class="row">
        <label class="inline">
          span
          <select
            name="minutes"
            value={String(minutes)}
            onChange={(e) => setMinutes(Number(e.currentTarget.value))}
          >
            <option value="15">15 min</option>
            <option value="60">60 min</option>
          </select>
        </label>
        <span class="muted">10-second buckets, from the gateway's counters</span>
      </div>
      {series ? <ActivityCharts series={series} /> : null}
      <Panel title="Recent calls">
        {activity.data && activity.data.recent.length === 0 ? (
          <p class="muted">No calls since Nimbus started.</p>
        ) : null}
        {activity.data && activity.data.recent.length > 0 ? (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>finished</th>
                  <th>status</th>
                  <th class="num">duration</th>
                  <th>cold</th>
                  <th>instance</th>
                  <th>call</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {activity.data.recent.map((call, i) => {
                  const logs = callLogsHref(namespace, name, call);
                  return (
                    <tr key={`${call.at}-${i}`} class="recent-call">
                      <td>{time(call.at)}</td>
                      <td>
                        <StatusBadge status={call.status} />
                      </td>
                      <td class="num">{ms(call.durationMs)}</td>
                      <td>
                        {call.cold ? (
                          <span class="cold" title="waited for an instance started for it">
                            cold
                          </span>
                        ) : (
                          ''
                        )}
                      </td>
                      <td class="mono">{call.instance ?? '–'}</td>
                      <td class="mono" title={call.callId}>
                        {call.callId ? call.callId.slice(0, 8) : '–'}
                      </td>
                      <td>{logs ? <a href={logs}>logs</a> : null}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ) : null}
        <p class="muted">
          Every way in counts: <code>/function</code>, async workers, cron and the compat APIs. The last 100
          calls are kept in memory.
        </p>
      </Panel>
      {fn?.processes && fn.processes.length > 0 ? (
        <Panel title="Instances">
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>instance</th>
                  <th class="num">pid</th>
                  <th class="num">in flight</th>
                  <th class="num">start took</th>
                  <th class="num">idle</th>
                </tr>
              </thead>
              <tbody>
                {fn.processes.map((p) => (
                  <tr key={p.id}>
                    <td class="mono">{p.id}</td>
                    <td class="num">{p.pid ?? '–'}</td>
                    <td class="num">{p.inflight}</td>
                    <td class="num">{ms(p.initMs)}</td>
                    <td class="num">{ms(p.idleMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Panel>
      ) : null}
    </>
  );
}
