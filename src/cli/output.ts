// CLI output: one-line coded errors, progress of slow steps (a spinner on a terminal, plain lines
// otherwise), notes that do not tear a spinner's line, aligned tables.
import { NimbusError } from '../errors.js';

export function printError(err: unknown, verbose: boolean): void {
  process.stderr.write(`${errorLine(err)}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}

/** `CODE: message` of any error. */
export function errorLine(err: unknown): string {
  if (err instanceof NimbusError) return `${err.code}: ${err.message}`;
  return `ERR_INTERNAL: ${(err as Error)?.message ?? String(err)}`;
}

/** `812 B`, `14.2 KB`, `3.1 MB` (powers of 1024). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** What a running step may say about itself. */
export interface StepProgress {
  /** Replaces the detail after the label (bytes sent so far, the current phase). On a terminal only. */
  update(detail: string): void;
  /** A new phase of the step: the spinner's detail on a terminal, an indented plain line otherwise. */
  phase(what: string): void;
  /** What the finished step says after its label (`1.2 MB`); shown on the ✓ line, or the done line. */
  result(detail: string): void;
}

/** The spinner on the terminal now, if any: notes clear its line first. */
let spinning: { redraw(): void } | undefined;

/** A line on stderr; on a terminal it goes above a running spinner, which then redraws. */
export function note(line: string): void {
  if (process.stderr.isTTY) {
    process.stderr.write(`\r\x1b[K${line}\n`);
    spinning?.redraw();
  } else process.stderr.write(`${line}\n`);
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** A step quicker than this prints no done line off a terminal (its start line is enough). */
const QUIET_STEP_MS = 1000;

/**
 * Runs `work` as one step. On a terminal (stderr a TTY): a spinner with the label and the detail
 * `work` reports, then `✓ label (detail, N ms)` or `✗ label`. Otherwise plain lines: `label…` at the
 * start, and `label: done (detail, N ms)` when it took a while or has a result to say.
 */
export async function step<T>(label: string, work: (progress: StepProgress) => Promise<T>): Promise<T> {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let detail = '';
  let result = '';
  const progress: StepProgress = {
    update(text) {
      detail = text;
    },
    phase(what) {
      detail = what;
      if (!tty) process.stderr.write(`  ${what}…\n`);
    },
    result(text) {
      result = text;
    },
  };
  const elapsed = (): string => `${Math.round(performance.now() - started)} ms`;
  const summary = (): string => (result ? `${result}, ${elapsed()}` : elapsed());
  if (!tty) {
    process.stderr.write(`${label}…\n`);
    const value = await work(progress);
    if (result || performance.now() - started >= QUIET_STEP_MS)
      process.stderr.write(`${label}: done (${summary()})\n`);
    return value;
  }
  let frame = 0;
  const draw = (): void => {
    process.stderr.write(
      `\r\x1b[K${FRAMES[frame++ % FRAMES.length]} ${label}${detail ? ` (${detail})` : ''}`,
    );
  };
  const previous = spinning;
  spinning = { redraw: draw };
  draw();
  const timer = setInterval(draw, 80);
  try {
    const value = await work(progress);
    process.stderr.write(`\r\x1b[K✓ ${label} (${summary()})\n`);
    return value;
  } catch (err) {
    process.stderr.write(`\r\x1b[K✗ ${label}\n`);
    throw err;
  } finally {
    clearInterval(timer);
    spinning = previous;
  }
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, col) => cell.padEnd(widths[col]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
