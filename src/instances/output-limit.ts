// Per-instance output budget: token buckets of bytes and lines per second; past them output is dropped and counted.

export interface OutputLimits {
  /** Lines per second an instance may write (stdout and stderr together), sustained. Default 2000. */
  linesPerSec: number;
  /** Bytes per second, sustained. Default 1 MiB. */
  bytesPerSec: number;
  /** Seconds of budget that may be spent at once. Default 2. */
  burstSec: number;
}

export const DEFAULT_OUTPUT_LIMITS: Readonly<OutputLimits> = Object.freeze({
  linesPerSec: 2000,
  bytesPerSec: 1024 * 1024,
  burstSec: 2,
});

/**
 * Decides, chunk by chunk and line by line, what of an instance's output is kept. A chunk past the byte
 * budget is dropped whole before it is decoded or split, so a flood costs the platform a read and a
 * newline count per 64 KiB, not a string per line; only its lines are counted.
 */
export class OutputLimiter {
  droppedLines = 0;
  droppedBytes = 0;
  private bytes: number;
  private lines: number;
  private last: number;

  constructor(
    private readonly limits: OutputLimits = DEFAULT_OUTPUT_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.bytes = limits.bytesPerSec * limits.burstSec;
    this.lines = limits.linesPerSec * limits.burstSec;
    this.last = now();
  }

  /** Whether a chunk read from the instance may go on to be split into lines. */
  admitChunk(chunk: Uint8Array): boolean {
    this.refill();
    if (this.bytes >= chunk.length) {
      this.bytes -= chunk.length;
      return true;
    }
    this.droppedBytes += chunk.length;
    this.droppedLines += countNewlines(chunk);
    return false;
  }

  /** Whether one line (of an admitted chunk) may be passed on. */
  admitLine(): boolean {
    this.refill();
    if (this.lines >= 1) {
      this.lines -= 1;
      return true;
    }
    this.droppedLines++;
    return false;
  }

  /** What was dropped since the last call (and resets the counts), or null when nothing was. */
  takeDropped(): { lines: number; bytes: number } | null {
    if (this.droppedLines === 0 && this.droppedBytes === 0) return null;
    const dropped = { lines: this.droppedLines, bytes: this.droppedBytes };
    this.droppedLines = 0;
    this.droppedBytes = 0;
    return dropped;
  }

  /** The line that reports a drop in the instance's output. */
  describe(dropped: { lines: number; bytes: number }): string {
    const bytes = dropped.bytes > 0 ? ` and ${dropped.bytes} bytes` : '';
    return `[nimbus] ${dropped.lines} lines${bytes} of output dropped: past ${this.limits.linesPerSec} lines/s or ${this.limits.bytesPerSec} bytes/s`;
  }

  private refill(): void {
    const now = this.now();
    const seconds = (now - this.last) / 1000;
    if (seconds <= 0) return;
    this.last = now;
    const { linesPerSec, bytesPerSec, burstSec } = this.limits;
    this.bytes = Math.min(bytesPerSec * burstSec, this.bytes + seconds * bytesPerSec);
    this.lines = Math.min(linesPerSec * burstSec, this.lines + seconds * linesPerSec);
  }
}

function countNewlines(chunk: Uint8Array): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}
