// The Azure Functions 2019 trace format ("Serverless in the Wild", ATC'20): one CSV file per day,
// `invocations_per_function_md.anon.dNN.csv`, a header `HashOwner,HashApp,HashFunction,Trigger,1,...,1440`
// and one row per function with its invocations in each minute of the day. Read, written, and days joined
// into one series per function.

export const MINUTES_PER_DAY = 1440;
const KEY_COLUMNS = ['HashOwner', 'HashApp', 'HashFunction', 'Trigger'] as const;
const COLUMNS = KEY_COLUMNS.length + MINUTES_PER_DAY;

/** One function's row of one day. */
export interface TraceRow {
  owner: string;
  app: string;
  fn: string;
  /** http, timer, queue, event, storage, orchestration, others. */
  trigger: string;
  /** Invocations in each minute of the day (1,440). */
  counts: Uint32Array;
}

/** One function over every day read: the days' minutes one after the other. */
export interface TraceFunction {
  owner: string;
  app: string;
  fn: string;
  trigger: string;
  /** Invocations per minute, days × 1,440. */
  counts: Uint32Array;
}

export class TraceFormatError extends Error {
  override name = 'TraceFormatError';
}

/** Parses one day's CSV. Throws TraceFormatError naming the line when it is not the trace's format. */
export function parseTraceDay(text: string, source = 'trace'): TraceRow[] {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split(',') ?? [];
  const expected = [...KEY_COLUMNS, ...Array.from({ length: MINUTES_PER_DAY }, (_, i) => String(i + 1))];
  if (header.length !== COLUMNS || header.some((name, i) => name.trim() !== expected[i]))
    throw new TraceFormatError(
      `${source}:1: the header must be ${KEY_COLUMNS.join(',')},1,...,${MINUTES_PER_DAY} (${header.length} columns found)`,
    );
  const rows: TraceRow[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === '') continue;
    const fields = line.split(',');
    if (fields.length !== COLUMNS)
      throw new TraceFormatError(`${source}:${n + 1}: ${fields.length} columns, expected ${COLUMNS}`);
    const counts = new Uint32Array(MINUTES_PER_DAY);
    for (let m = 0; m < MINUTES_PER_DAY; m++) {
      const raw = fields[KEY_COLUMNS.length + m]!;
      const value = Number(raw);
      if (raw === '' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
        throw new TraceFormatError(`${source}:${n + 1}: minute ${m + 1} holds "${raw}", not a count`);
      counts[m] = value;
    }
    rows.push({ owner: fields[0]!, app: fields[1]!, fn: fields[2]!, trigger: fields[3]!, counts });
  }
  return rows;
}

/** Writes one day's rows in the trace's CSV format (header included, a newline after every row). */
export function formatTraceDay(rows: readonly TraceRow[]): string {
  const header = [...KEY_COLUMNS, ...Array.from({ length: MINUTES_PER_DAY }, (_, i) => String(i + 1))].join(
    ',',
  );
  const out = [header];
  for (const row of rows) {
    if (row.counts.length !== MINUTES_PER_DAY)
      throw new TraceFormatError(`${row.fn}: ${row.counts.length} minutes in a day's row`);
    out.push(`${row.owner},${row.app},${row.fn},${row.trigger},${row.counts.join(',')}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Joins days (in order) into one series per function, keyed by owner, app and function hash. A function
 * missing from a day had no invocations that day, as in the published trace.
 */
export function joinDays(days: readonly (readonly TraceRow[])[]): TraceFunction[] {
  const byKey = new Map<string, TraceFunction>();
  const length = days.length * MINUTES_PER_DAY;
  days.forEach((rows, day) => {
    for (const row of rows) {
      const key = `${row.owner}/${row.app}/${row.fn}`;
      let f = byKey.get(key);
      if (!f) {
        f = {
          owner: row.owner,
          app: row.app,
          fn: row.fn,
          trigger: row.trigger,
          counts: new Uint32Array(length),
        };
        byKey.set(key, f);
      }
      // The published trace holds a few functions twice in one day (one row per trigger): add them up.
      const offset = day * MINUTES_PER_DAY;
      for (let m = 0; m < MINUTES_PER_DAY; m++) f.counts[offset + m]! += row.counts[m]!;
    }
  });
  return [...byKey.values()];
}

/** Splits joined functions back into one day's rows (for writing a day file). */
export function dayRows(functions: readonly TraceFunction[], day: number): TraceRow[] {
  const offset = day * MINUTES_PER_DAY;
  return functions.map((f) => ({
    owner: f.owner,
    app: f.app,
    fn: f.fn,
    trigger: f.trigger,
    counts: f.counts.slice(offset, offset + MINUTES_PER_DAY),
  }));
}
