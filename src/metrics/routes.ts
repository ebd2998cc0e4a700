// GET /metrics: the invocation series (invocations.ts) and what the platform holds right now, in the
// Prometheus text format. Behind the platform token, like the rest of the control API (Prometheus sends it
// with `authorization: {credentials_file: <dataDir>/admin-token}`).
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { sees } from '../gateway/functions-api.js';
import type { Router } from '../gateway/router.js';
import type { Launcher } from '../instances/launcher.js';
import { escapeLabel } from './invocations.js';

export interface MetricsDeps {
  dispatcher: Dispatcher;
  launcher: Launcher;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function metricsRoutes(deps: MetricsDeps): (router: Router) => void {
  return (router) => {
    router.add(
      'GET',
      '/metrics',
      ({ res, principal }) => {
        // A namespace's key sees its own functions' series; the platform-wide gauges need one of no namespace.
        const shown = (id: string) => principal !== undefined && sees(principal, id);
        const platform = principal?.namespace === '*';
        res
          .writeHead(200, { 'content-type': METRICS_CONTENT_TYPE })
          .end(renderMetrics(deps, shown, platform));
      },
      { access: 'read', scope: 'own' },
    );
  };
}

export function renderMetrics(
  { dispatcher, launcher }: MetricsDeps,
  shown: (id: string) => boolean = () => true,
  platform = true,
): string {
  const replicas: string[] = [];
  const instances: string[] = [];
  const inflight: string[] = [];
  const queued: string[] = [];
  for (const { fn, pool } of dispatcher.entries()) {
    if (!shown(fn.name)) continue;
    const label = `function_name="${escapeLabel(fn.name)}"`;
    const stats = pool.stats();
    replicas.push(`gateway_service_count{${label}} ${stats.instances}`);
    instances.push(`nimbus_instances{${label},state="ready"} ${stats.instances}`);
    instances.push(`nimbus_instances{${label},state="starting"} ${stats.starting}`);
    inflight.push(`nimbus_requests_in_flight{${label}} ${stats.inflight}`);
    queued.push(`nimbus_requests_queued{${label}} ${stats.queued}`);
  }
  const MB = 1024 * 1024;
  return [
    dispatcher.metrics.render(shown).trimEnd(),
    '# HELP gateway_service_count Ready instances of a function (OpenFaaS: replicas).',
    '# TYPE gateway_service_count gauge',
    ...replicas,
    '# HELP nimbus_instances Instances of a function, ready or starting.',
    '# TYPE nimbus_instances gauge',
    ...instances,
    '# HELP nimbus_requests_in_flight Calls of a function running on its instances.',
    '# TYPE nimbus_requests_in_flight gauge',
    ...inflight,
    '# HELP nimbus_requests_queued Calls of a function waiting for an instance.',
    '# TYPE nimbus_requests_queued gauge',
    ...queued,
    ...(platform
      ? [
          '# HELP nimbus_stem_cells Prewarmed runner processes waiting for a function.',
          '# TYPE nimbus_stem_cells gauge',
          `nimbus_stem_cells ${launcher.stems?.idleCells().length ?? 0}`,
          '# HELP nimbus_memory_budget_bytes The instance memory budget: its limit, and what instances and stem cells reserve.',
          '# TYPE nimbus_memory_budget_bytes gauge',
          `nimbus_memory_budget_bytes{kind="limit"} ${launcher.budget.limitMb * MB}`,
          `nimbus_memory_budget_bytes{kind="reserved"} ${launcher.budget.used * MB}`,
        ]
      : []),
    '',
  ].join('\n');
}
