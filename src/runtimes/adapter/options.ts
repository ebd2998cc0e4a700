// What the adapter runner (exec, http, lambda) needs beyond the common LOAD message: it travels in the
// LOAD message's `adapter` key, so a generic adapter process can be started before it knows its function.
import type { LoadMessage } from '../../instances/protocol.js';

export type AdapterMode = 'exec' | 'http' | 'lambda';

export interface AdapterOptions {
  mode: AdapterMode;
  /** The user's program as argv; a first word with a `/` is relative to the bundle. */
  argv: string[];
  /** http: polled until it answers below 500. */
  healthPath: string;
  /** http: `PORT` is a Unix socket path. */
  unixSocket: boolean;
  /** lambda: `_HANDLER`. */
  handler: string;
  /** lambda: the spec's concurrency, offered to the runtime as `AWS_LAMBDA_MAX_CONCURRENCY` when above 1. */
  concurrency: number;
}

export interface AdapterLoadMessage extends LoadMessage {
  adapter: AdapterOptions;
}
