// One function: its tabs (overview with charts and recent calls, invoke, logs, async calls, versions and
// aliases, spec with the CLI commands).
import { useEffect, useRef } from 'preact/hooks';
import { may, useSession } from '../access.js';
import { query } from '../api.js';
import { useLoad } from '../hooks.js';
import { href } from '../route.js';
import { functionSchema } from '../schemas.js';
import { CallsPage } from './calls-page.js';
import { ErrorBanner } from './common.js';
import { FunctionStatus } from './functions-page.js';
import { InvokeForm } from './invoke-form.js';
import { LogsTab } from './logs-tab.js';
import { OverviewTab } from './overview-tab.js';
import { SpecTab } from './spec-tab.js';
import { VersionsTab } from './versions-tab.js';

const TABS: [string, string][] = [
  ['overview', 'Overview'],
  ['invoke', 'Invoke'],
  ['logs', 'Logs'],
  ['calls', 'Async calls'],
  ['versions', 'Versions'],
  ['spec', 'Spec'],
];

export function FunctionPage({
  namespace,
  name,
  tab,
  query: params,
}: {
  namespace: string;
  name: string;
  tab: string;
  query: URLSearchParams;
}) {
  const { api, who } = useSession();
  const fn = useLoad(
    () => api.get(`/api/v1/functions/${encodeURIComponent(name)}${query({ namespace })}`, functionSchema),
    [namespace, name],
    5000,
  );
  // Another tab shows the function's counters as they are now, not as the last poll left them.
  const shownTab = useRef(tab);
  useEffect(() => {
    if (shownTab.current === tab) return;
    shownTab.current = tab;
    fn.reload();
  }, [tab]);
  const readable = may(who, 'read', namespace, name);
  return (
    <>
      <div class="row head">
        <h2>{name}</h2>
        {fn.data ? <FunctionStatus fn={fn.data} /> : null}
        {fn.data ? (
          <span class="muted">
            v{fn.data.version} · {fn.data.runtime}
          </span>
        ) : null}
        <span class="muted">in {namespace}</span>
      </div>
      <ErrorBanner error={fn.error} />
      <nav class="tabs" aria-label="function">
        {TABS.map(([id, label]) => (
          <a key={id} href={href('ns', namespace, 'fn', name, id)} class={tab === id ? 'active' : ''}>
            {label}
          </a>
        ))}
      </nav>
      {tab === 'overview' && readable ? (
        <OverviewTab namespace={namespace} name={name} fn={fn.data} />
      ) : tab === 'invoke' ? (
        <InvokeForm namespace={namespace} name={name} isPrivate={fn.data?.spec.private} />
      ) : tab === 'logs' && readable ? (
        <LogsTab
          namespace={namespace}
          name={name}
          filter={params.get('call') ?? ''}
          instance={params.get('instance') ?? ''}
          from={params.get('from') ?? ''}
          to={params.get('to') ?? ''}
        />
      ) : tab === 'calls' && readable ? (
        <CallsPage namespace={namespace} fn={name} query={params} />
      ) : tab === 'versions' && readable ? (
        <VersionsTab namespace={namespace} name={name} onChanged={fn.reload} />
      ) : tab === 'spec' && fn.data ? (
        <SpecTab fn={fn.data} />
      ) : null}
    </>
  );
}
