// One request inside the adapter runner: its head and body as they arrive from the gateway, and the
// frames of its answer. A stream is open until its response ends, it fails, or the gateway cancels it.
import { encodeFields, FLAG_END, FrameType, type FrameWriter } from '../../instances/protocol.js';

const EMPTY = new Uint8Array(0);

export class AdapterStream {
  readonly id: number;
  /** method, path?query, name, value, ... (names lower-case). */
  readonly fields: string[];
  /** Until the response ended, failed or was cancelled. */
  open = true;
  headSent = false;
  /** The body is a raw Lambda event (FLAG_RAW_EVENT: the Invoke API); lambda mode passes it as it is. */
  raw = false;
  /** Called once when the gateway cancels the stream (caller gone, deadline passed). */
  onCancel: () => void = () => {};
  private chunks: Buffer[] = [];
  private bodyEnded: boolean;
  private sink: ((chunk: Buffer | null) => void) | undefined;

  constructor(
    id: number,
    fields: string[],
    bodyEnded: boolean,
    private readonly writer: FrameWriter,
    private readonly closed: (stream: AdapterStream) => void,
  ) {
    this.id = id;
    this.fields = fields;
    this.bodyEnded = bodyEnded;
  }

  get method(): string {
    return this.fields[0]!;
  }

  /** The request target: path and query. */
  get target(): string {
    return this.fields[1]!;
  }

  /** The first value of a header (name lower-case). */
  header(name: string): string | undefined {
    for (let i = 2; i < this.fields.length; i += 2) if (this.fields[i] === name) return this.fields[i + 1];
    return undefined;
  }

  /** Body bytes from the gateway (copied: the frame belongs to the socket's read buffer). */
  pushBody(payload: Buffer, end: boolean): void {
    if (payload.length > 0) {
      const chunk = Buffer.from(payload);
      if (this.sink) this.sink(chunk);
      else this.chunks.push(chunk);
    }
    if (end) {
      this.bodyEnded = true;
      this.sink?.(null);
    }
  }

  /** Streams the body: what arrived so far, then each chunk as it comes, then null at the end. */
  readBody(sink: (chunk: Buffer | null) => void): void {
    for (const chunk of this.chunks) sink(chunk);
    this.chunks = [];
    if (this.bodyEnded) sink(null);
    else this.sink = sink;
  }

  /** The whole body, once it has arrived. */
  wholeBody(): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      this.readBody((chunk) => {
        if (chunk) chunks.push(chunk);
        else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      });
    });
  }

  /** Sends the response head: status and flat header pairs. */
  respond(status: number, headers: readonly string[], end: boolean): void {
    if (!this.open || this.headSent) return;
    this.headSent = true;
    this.writer.text(
      FrameType.RESPONSE,
      end ? FLAG_END : 0,
      this.id,
      encodeFields([String(status), ...headers]),
    );
    if (end) this.finish();
  }

  /** Sends response body bytes (after `respond`). */
  write(chunk: Uint8Array, end = false): void {
    if (!this.open) return;
    if (chunk.length > 0 || end)
      this.writer.bytes(FrameType.RESPONSE_BODY, end ? FLAG_END : 0, this.id, chunk);
    if (end) this.finish();
  }

  end(): void {
    this.write(EMPTY, true);
  }

  /** Fails the request: a coded 500 before the head, a cut-short body after it. */
  fail(message: string, stack?: string, code?: string): void {
    if (!this.open) return;
    this.writer.json(FrameType.ERROR, this.id, { message, stack, code });
    this.finish();
  }

  cancel(): void {
    if (!this.open) return;
    this.finish();
    this.onCancel();
  }

  private finish(): void {
    this.open = false;
    this.sink = undefined;
    this.closed(this);
  }
}
