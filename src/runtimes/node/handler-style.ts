// A handler style of the Node runner: how a module's exports are recognised (pick) and how one request is
// served with them (handle). runner.ts lists the styles; adding one is a file like builtin-styles.ts and
// one line there.
import type { LoadMessage } from '../../instances/protocol.js';
import type { RunnerStream } from '../gateway-link.js';

export interface HandlerStyle {
  /** What LOADED reports and the spec's `handlerStyle` names. */
  readonly name: string;
  /**
   * The handler in the module's exports if it is written in this style, else undefined. `forced`: the
   * spec names this style, so the module must be — throw what is missing. `exportName`: `#name` of the entry.
   */
  pick(mod: Record<string, unknown>, exportName: string | undefined, forced: boolean): unknown;
  /** Serves one request with the picked handler: answers on the stream, never throws. */
  handle(handler: unknown, stream: RunnerStream, load: LoadMessage): void;
}

/** A CommonJS module bundled as ESM shows `module.exports` as `default` (sometimes nested once more). */
export function unwrapDefault(value: unknown): unknown {
  if (value && typeof value === 'object' && 'default' in value && Object.keys(value).length === 1) {
    return (value as { default: unknown }).default;
  }
  return value;
}

/** The name of what a handler returned, for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/** Fails the stream with what a handler threw. */
export function failWith(stream: RunnerStream, err: unknown, code?: string): void {
  const e = err instanceof Error ? err : new Error(typeof err === 'string' ? err : describe(err));
  stream.fail(e.message, e.stack, code);
}
