// How numbers, times and durations read in the dashboard.

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  if (value >= 10_000) return `${(value / 1000).toFixed(1)} s`;
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  if (value >= 100) return `${Math.round(value)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

export function rate(perSecond: number): string {
  if (perSecond === 0) return '0/s';
  if (perSecond < 0.1) return `${(perSecond * 60).toFixed(1)}/min`;
  if (perSecond < 10) return `${perSecond.toFixed(2)}/s`;
  return `${Math.round(perSecond)}/s`;
}

export function percent(part: number, whole: number): string {
  if (whole === 0) return '–';
  const p = (part / whole) * 100;
  return p === 0 ? '0%' : p < 0.1 ? '<0.1%' : `${p.toFixed(p < 10 ? 1 : 0)}%`;
}

/** A time as the local clock shows it (date too when not today). */
export function time(at: number | string | undefined): string {
  if (at === undefined) return '–';
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return String(at);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

export function ago(at: number | string): string {
  const seconds = Math.round((Date.now() - new Date(at).getTime()) / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The status class of an HTTP status: ok, warn (4xx) or bad (5xx). */
export function statusTone(status: number): 'ok' | 'warn' | 'bad' {
  return status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'ok';
}
