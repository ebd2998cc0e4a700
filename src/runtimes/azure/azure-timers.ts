// An Azure Functions app's timers as Nimbus cron schedules: one per timer function, each run sent to Azure's
// admin route for that function (`/admin/functions/{name}`), read in UTC unless the spec's `timezone` or the
// app's WEBSITE_TIME_ZONE setting names a zone, as Azure reads NCRONTAB expressions.
import { isTimeZone } from '../../config/async-spec.js';
import type { FunctionSpec } from '../../config/function-spec.js';
import type { ScheduleDef } from '../../triggers/cron.js';

export function azureTimerSchedules(
  fn: string,
  spec: Pick<FunctionSpec, 'timezone' | 'allowOverlap'> &
    Partial<Pick<FunctionSpec, 'azure' | 'environment'>>,
): ScheduleDef[] {
  const zone = spec.environment?.WEBSITE_TIME_ZONE;
  const timezone = spec.timezone ?? (zone && isTimeZone(zone) ? zone : 'UTC');
  return (spec.azure?.timers ?? []).map((timer) => ({
    id: `${fn}#${timer.function}`,
    fn,
    expression: timer.schedule,
    timezone,
    path: `/admin/functions/${encodeURIComponent(timer.function)}`,
    payload: undefined,
    // Azure runs a timer function as a singleton: a run is not started while the last one is still going.
    allowOverlap: spec.allowOverlap,
    runOnStartup: timer.runOnStartup,
  }));
}
