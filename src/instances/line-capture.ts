// Splits a process's output into lines, each cut at a bounded length so a flood cannot grow memory.

export const MAX_LINE_BYTES = 8 * 1024;

export class LineCapture {
  private partial = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      this.emit(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.slice(start);
    while (this.partial.length > this.maxLineBytes) {
      this.emit(this.partial.slice(0, this.maxLineBytes));
      this.partial = this.partial.slice(this.maxLineBytes);
    }
  }

  end(): void {
    if (this.partial) this.emit(this.partial);
    this.partial = '';
  }

  private emit(line: string): void {
    this.onLine(line.length > this.maxLineBytes ? `${line.slice(0, this.maxLineBytes)}…` : line);
  }
}
