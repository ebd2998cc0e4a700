// Per-function invocation counters and latency histograms, rendered in the Prometheus text format. The
// series carry OpenFaaS's gateway names and labels (gateway_function_invocation_total, gateway_functions_seconds)
// so dashboards built for OpenFaaS read Nimbus unchanged. Recording is a map lookup and a few additions.

/** Upper bounds of the latency buckets, in seconds (Prometheus's defaults). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** The code recorded when the client went away before the response ended (nginx's convention). */
export const CLIENT_CLOSED = 499;

interface Series {
  count: number;
  sumSeconds: number;
  /** Calls per bucket (not cumulative); the last counts those past every bound. */
  buckets: Uint32Array;
}

interface FunctionSeries {
  byCode: Map<number, Series>;
  coldStarts: number;
}

export class InvocationMetrics {
  private readonly functions = new Map<string, FunctionSeries>();

  /** One finished call: its HTTP status, how long it took end to end, whether it waited for a start. */
  record(name: string, status: number, seconds: number, cold: boolean): void {
    let fn = this.functions.get(name);
    if (!fn) {
      fn = { byCode: new Map(), coldStarts: 0 };
      this.functions.set(name, fn);
    }
    let series = fn.byCode.get(status);
    if (!series) {
      series = { count: 0, sumSeconds: 0, buckets: new Uint32Array(LATENCY_BUCKETS.length + 1) };
      fn.byCode.set(status, series);
    }
    series.count++;
    series.sumSeconds += seconds;
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    series.buckets[b]!++;
    if (cold) fn.coldStarts++;
  }

  /** The series in the Prometheus text format (version 0.0.4), of the functions `shown` lets through. */
  render(shown: (name: string) => boolean = () => true): string {
    const total: string[] = [];
    const seconds: string[] = [];
    const cold: string[] = [];
    for (const [name, fn] of this.functions) {
      if (!shown(name)) continue;
      const fnLabel = `function_name="${escapeLabel(name)}"`;
      cold.push(`nimbus_cold_starts_total{${fnLabel}} ${fn.coldStarts}`);
      for (const [code, s] of fn.byCode) {
        const labels = `${fnLabel},code="${code}"`;
        total.push(`gateway_function_invocation_total{${labels}} ${s.count}`);
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((bound, i) => {
          cumulative += s.buckets[i]!;
          seconds.push(`gateway_functions_seconds_bucket{${labels},le="${bound}"} ${cumulative}`);
        });
        seconds.push(`gateway_functions_seconds_bucket{${labels},le="+Inf"} ${s.count}`);
        seconds.push(`gateway_functions_seconds_sum{${labels}} ${s.sumSeconds}`);
        seconds.push(`gateway_functions_seconds_count{${labels}} ${s.count}`);
      }
    }
    return [
      '# HELP gateway_function_invocation_total Calls of a function, by HTTP status of the answer (499: the client went away).',
      '# TYPE gateway_function_invocation_total counter',
      ...total,
      '# HELP gateway_functions_seconds Time from taking a call to its last response byte, by HTTP status.',
      '# TYPE gateway_functions_seconds histogram',
      ...seconds,
      '# HELP nimbus_cold_starts_total Calls that waited for an instance started for them.',
      '# TYPE nimbus_cold_starts_total counter',
      ...cold,
      '',
    ].join('\n');
  }
}

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
