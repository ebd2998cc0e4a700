// The functions of a namespace: status, instances, version and aliases, and the last five minutes of calls
// (rate, error rate, p50/p99 latency, cold starts) from the gateway's own counters.
import { useSession } from '../access.js';
import { query } from '../api.js';
import { ms, percent, rate } from '../format.js';
import { useLoad } from '../hooks.js';
import { href } from '../route.js';
import {
  activityListSchema,
  aliasListSchema,
  type FunctionView,
  functionListSchema,
  type Summary,
} from '../schemas.js';
import { Sparkline } from './charts.js';
import { Badge, CopyText, ErrorBanner } from './common.js';

export function FunctionStatus({ fn }: { fn: FunctionView }) {
  if (fn.status === 'unhealthy')
    return (
      <span title={fn.lastError}>
        <Badge tone="bad">unhealthy</Badge>
      </span>
    );
  if (fn.instances > 0) return <Badge tone="ok">running</Badge>;
  if (fn.starting > 0) return <Badge tone="warn">starting</Badge>;
  return <Badge>scaled to zero</Badge>;
}

export function FunctionsPage({ namespace }: { namespace: string }) {
  const { api } = useSession();
  const functions = useLoad(
    () => api.get(`/api/v1/functions${query({ namespace })}`, functionListSchema),
    [namespace],
    5000,
  );
  const activity = useLoad(
    () => api.get(`/api/v1/activity${query({ namespace })}`, activityListSchema),
    [namespace],
    5000,
  );
  const list = functions.data?.functions ?? [];
  // Aliases change rarely: read once per set of functions and versions, not on every poll.
  const shape = list.map((f) => `${f.name}@${f.version}`).join(',');
  const aliases = useLoad(async () => {
    const entries = await Promise.all(
      list.map(async (f) => {
        const { aliases } = await api.get(
          `/api/v1/functions/${encodeURIComponent(f.name)}/aliases${query({ namespace })}`,
          aliasListSchema,
        );
        return [f.name, aliases.map((a) => `${a.name}→${a.version}`)] as const;
      }),
    );
    return new Map(entries);
  }, [shape]);
  const byName = new Map<string, Summary>((activity.data?.functions ?? []).map((s) => [s.name, s]));
  const window = activity.data ? `${Math.round(activity.data.windowSeconds / 60)} min` : '5 min';
  return (
    <>
      <div class="row head">
        <h2>Functions</h2>
        <span class="muted">in {namespace}</span>
      </div>
      <ErrorBanner error={functions.error ?? activity.error} />
      {functions.data && list.length === 0 ? (
        <section class="panel">
          <p>No functions in this namespace yet. Deploy one from a folder with a handler:</p>
          <CopyText
            text={`nimbus deploy functions/hello${namespace === 'default' ? '' : ` --namespace ${namespace}`}`}
          />
        </section>
      ) : null}
      {list.length > 0 ? (
        <section class="panel table-wrap">
          <table>
            <thead>
              <tr>
                <th>name</th>
                <th>status</th>
                <th class="num">instances</th>
                <th>version</th>
                <th class="num">rate</th>
                <th class="num">errors</th>
                <th class="num">p50</th>
                <th class="num">p99</th>
                <th class="num">cold</th>
                <th class="hide-sm">last {window}</th>
              </tr>
            </thead>
            <tbody>
              {list.map((fn) => {
                const s = byName.get(fn.name);
                const fnAliases = aliases.data?.get(fn.name) ?? [];
                return (
                  <tr key={fn.name} data-function={fn.name}>
                    <td>
                      <a href={href('ns', namespace, 'fn', fn.name)}>{fn.name}</a>
                      {fn.spec.private ? <span class="muted"> · private</span> : null}
                    </td>
                    <td>
                      <FunctionStatus fn={fn} />
                    </td>
                    <td
                      class="num"
                      title={`${fn.instances} ready, ${fn.starting} starting, ${fn.inflight} in flight, ${fn.queued} queued`}
                    >
                      {fn.instances}
                      {fn.starting ? ` (+${fn.starting})` : ''}
                    </td>
                    <td>
                      v{fn.version}
                      {fnAliases.length ? <span class="muted"> · {fnAliases.join(', ')}</span> : null}
                    </td>
                    <td class="num">{s ? rate(s.rate) : '–'}</td>
                    <td class="num">{s ? percent(s.errors, s.calls) : '–'}</td>
                    <td class="num">{ms(s?.p50Ms)}</td>
                    <td class="num">{ms(s?.p99Ms)}</td>
                    <td class="num cold-starts">{s ? s.coldStarts : '–'}</td>
                    <td class="hide-sm">
                      {s ? <Sparkline values={s.spark} label={`${s.calls} calls`} /> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      ) : null}
      <p class="muted">
        Rates, error rates (status 500 and above), latency percentiles and cold starts cover the last {window}
        , from the gateway's own counters; they start at zero when Nimbus starts.
      </p>
    </>
  );
}
