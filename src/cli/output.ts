// CLI output: one-line coded errors, a progress line on slow steps, aligned tables.
import { NimbusError } from '../errors.js';

export function printError(err: unknown, verbose: boolean): void {
  if (err instanceof NimbusError) {
    process.stderr.write(`${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`ERR_INTERNAL: ${(err as Error)?.message ?? String(err)}\n`);
  }
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}

/** Runs `work` with a spinner on stderr when it is a terminal (a plain line otherwise). */
export async function step<T>(label: string, work: () => Promise<T>): Promise<T> {
  const tty = process.stderr.isTTY;
  if (!tty) {
    process.stderr.write(`${label}…\n`);
    return work();
  }
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const started = Date.now();
  const timer = setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} ${label}`), 80);
  try {
    const result = await work();
    process.stderr.write(`\r✓ ${label} (${Date.now() - started} ms)\n`);
    return result;
  } catch (err) {
    process.stderr.write(`\r✗ ${label}\n`);
    throw err;
  } finally {
    clearInterval(timer);
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
