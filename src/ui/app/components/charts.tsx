// Charts drawn as SVG from the gateway's 10-second buckets: bars for counts, lines for latency. The SVG is
// stretched to the panel's width; its labels are HTML around it, so they never stretch with it.
import type { ComponentChildren } from 'preact';
import { ms, time } from '../format.js';
import type { Series } from '../schemas.js';

const HEIGHT = 100;

interface BarSet {
  values: number[];
  cls: string;
  label: string;
}

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

function Frame({
  title,
  top,
  start,
  end,
  legend,
  label,
  children,
  width,
}: {
  title: string;
  top: string;
  start: number;
  end: number;
  legend: { cls: string; label: string }[];
  label: string;
  width: number;
  children: ComponentChildren;
}) {
  return (
    <figure class="panel">
      <div class="row">
        <h3>{title}</h3>
        <div class="legend">
          {legend.map((l) => (
            <span key={l.label}>
              <i class={l.cls} />
              {l.label}
            </span>
          ))}
        </div>
      </div>
      <div class="muted">max {top}</div>
      <svg
        class="chart"
        viewBox={`0 0 ${width} ${HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={label}
      >
        <line class="axis" x1="0" y1={HEIGHT} x2={width} y2={HEIGHT} />
        {children}
      </svg>
      <div class="row muted">
        <span>{time(start)}</span>
        <span class="grow" />
        <span>{time(end)}</span>
      </div>
    </figure>
  );
}

/** Bars per bucket; later sets are drawn over earlier ones (errors over calls). */
export function BarChart({
  title,
  sets,
  start,
  bucketMs,
}: {
  title: string;
  sets: BarSet[];
  start: number;
  bucketMs: number;
}) {
  const n = sets[0]?.values.length ?? 0;
  const top = niceMax(Math.max(0, ...sets.flatMap((s) => s.values)));
  const total = sets.map((s) => `${s.label} ${s.values.reduce((a, b) => a + b, 0)}`).join(', ');
  return (
    <Frame
      title={title}
      top={`${top} per ${bucketMs / 1000} s`}
      start={start}
      end={start + n * bucketMs}
      legend={sets}
      label={`${title}: ${total}`}
      width={n}
    >
      {sets.map((set) =>
        set.values.map((v, i) =>
          v > 0 ? (
            <rect
              key={`${set.label}${i}`}
              class={set.cls}
              x={i + 0.1}
              width={0.8}
              y={HEIGHT - (v / top) * HEIGHT}
              height={(v / top) * HEIGHT}
            />
          ) : null,
        ),
      )}
    </Frame>
  );
}

/** Lines per bucket; a bucket without a value breaks the line. */
export function LineChart({
  title,
  lines,
  start,
  bucketMs,
}: {
  title: string;
  lines: { values: (number | null)[]; cls: string; label: string }[];
  start: number;
  bucketMs: number;
}) {
  const n = lines[0]?.values.length ?? 0;
  const top = niceMax(Math.max(0, ...lines.flatMap((l) => l.values.filter((v): v is number => v !== null))));
  // Each bucket's value spans its bucket (a step line), so a lone value shows as a dash, not a dot.
  const segments = (values: (number | null)[]): string[] => {
    const out: string[] = [];
    let current: string[] = [];
    values.forEach((v, i) => {
      if (v === null) {
        if (current.length) out.push(current.join(' '));
        current = [];
        return;
      }
      const y = HEIGHT - (v / top) * HEIGHT;
      current.push(`${i + 0.1},${y}`, `${i + 0.9},${y}`);
    });
    if (current.length) out.push(current.join(' '));
    return out;
  };
  const last = (values: (number | null)[]) => {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  };
  const latest = lines.map((l) => `${l.label} ${ms(last(l.values))}`).join(', ');
  const label = `${title}: ${latest} (latest)`;
  return (
    <Frame
      title={title}
      top={`${ms(top)} · latest ${latest}`}
      start={start}
      end={start + n * bucketMs}
      legend={lines}
      label={label}
      width={n}
    >
      {lines.map((line) =>
        segments(line.values).map((points, i) => (
          <polyline key={`${line.label}${i}`} class={`line ${line.cls}`} points={points} />
        )),
      )}
    </Frame>
  );
}

export function ActivityCharts({ series }: { series: Series }) {
  const { start, bucketMs } = series;
  return (
    <div class="grid">
      <BarChart
        title="Calls"
        start={start}
        bucketMs={bucketMs}
        sets={[
          { values: series.calls, cls: 'c-calls', label: 'calls' },
          { values: series.errors, cls: 'c-errors', label: 'errors (5xx)' },
        ]}
      />
      <LineChart
        title="Latency"
        start={start}
        bucketMs={bucketMs}
        lines={[
          { values: series.p50Ms, cls: 'c-p50', label: 'p50' },
          { values: series.p99Ms, cls: 'c-p99', label: 'p99' },
        ]}
      />
      <BarChart
        title="Cold starts"
        start={start}
        bucketMs={bucketMs}
        sets={[{ values: series.coldStarts, cls: 'c-cold', label: 'cold starts' }]}
      />
    </div>
  );
}

/** A tiny bar chart for a table cell. */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  const top = Math.max(1, ...values);
  return (
    <svg
      class="spark"
      viewBox={`0 0 ${values.length} 20`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
    >
      {values.map((v, i) =>
        v > 0 ? (
          <rect
            key={i}
            class="c-calls"
            x={i + 0.1}
            width={0.8}
            y={20 - (v / top) * 20}
            height={(v / top) * 20}
          />
        ) : null,
      )}
    </svg>
  );
}
