// What each adapter mode (exec, http, lambda) implements for the adapter runner.
import type { AdapterLoadMessage, AdapterOptions } from './options.js';
import type { AdapterStream } from './stream.js';

export interface Mode {
  /** Gets ready to serve (starts the program where it runs for good); rejects with what to fix. */
  start(): Promise<void>;
  /** Serves one request; answers on the stream (respond/write/fail), never throws. */
  request(stream: AdapterStream): void;
}

export interface ModeHost {
  /** Ends the instance: its long-running program is gone. */
  exit(reason: string): void;
}

export type CreateMode = (load: AdapterLoadMessage, options: AdapterOptions, host: ModeHost) => Mode;
