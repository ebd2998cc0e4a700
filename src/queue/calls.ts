// Call records: what happened to each async call (status, attempts, timestamps, the stored response), kept
// for a retention period; dead calls keep their request so they can be redriven.
import type { CallSource } from './envelope.js';

export type CallStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead';
export const CALL_STATUSES: readonly CallStatus[] = ['queued', 'running', 'succeeded', 'failed', 'dead'];
/** Statuses after which nothing more happens to a call (unless a dead one is redriven). */
export const FINAL_STATUSES: ReadonlySet<CallStatus> = new Set(['succeeded', 'failed', 'dead']);

export type CallbackState = 'pending' | 'delivered' | 'failed';

export interface StoredResponse {
  status: number;
  /** Flat header list: name, value, name, value, ... */
  headers: string[];
  /** Up to the platform's callResponseLimitBytes. */
  body: Buffer;
  /** Size of the whole body the function answered. */
  bodyBytes: number;
}

export interface CallError {
  code: string;
  message: string;
}

export interface CallRecord {
  id: string;
  fn: string;
  source: CallSource;
  status: CallStatus;
  /** Deliveries to the function (a redrive starts over). */
  attempts: number;
  /** Attempts that failed with a function error (counted against `async.retries`). */
  errors: number;
  redrives: number;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** When a retry is due (status queued after a failed attempt). */
  nextAttemptAt?: number;
  /** Duration of the last attempt. */
  durationMs?: number;
  callbackUrl?: string;
  callbackState?: CallbackState;
  callbackAttempts: number;
  callbackError?: string;
  /** The last attempt's response (without its body in lists). */
  response?: StoredResponse;
  /** Set when the platform, not the function, decided the outcome (timeout, retries exhausted, ...). */
  error?: CallError;
}

export interface NewCall {
  id: string;
  fn: string;
  source: CallSource;
  callbackUrl?: string | undefined;
  createdAt: number;
}

export interface AttemptOutcome {
  durationMs?: number | undefined;
  response?: StoredResponse | undefined;
  error?: CallError | undefined;
}

export interface CallListFilter {
  fn?: string | undefined;
  status?: CallStatus | undefined;
  /** Most records, newest first. */
  limit: number;
  /** Only calls created before this call (for paging). */
  before?: string | undefined;
}

export type CallCounts = Record<CallStatus, number>;

export interface CallStore {
  create(call: NewCall): Promise<void>;
  running(id: string, attempt: number, now: number): Promise<void>;
  retrying(
    id: string,
    update: AttemptOutcome & { errors: number; nextAttemptAt: number; now: number },
  ): Promise<void>;
  /** A final outcome; a dead call keeps `request` (the queued envelope) for redrive. */
  finish(
    id: string,
    update: AttemptOutcome & {
      status: 'succeeded' | 'failed' | 'dead';
      errors: number;
      now: number;
      request?: Buffer | undefined;
      callbackPending: boolean;
    },
  ): Promise<void>;
  callback(
    id: string,
    update: { state: CallbackState; attempts: number; error?: string; now: number },
  ): Promise<void>;
  /** A dead call is queued again: attempts and errors start over, the stored request is dropped. */
  requeue(id: string, now: number): Promise<void>;
  get(id: string): Promise<CallRecord | undefined>;
  /** Status and error count only (read by workers on every attempt). */
  progress(id: string): Promise<{ status: CallStatus; errors: number; redrives: number } | undefined>;
  /** The request a dead call keeps. */
  deadLetter(id: string): Promise<{ fn: string; request: Buffer } | undefined>;
  list(filter: CallListFilter): Promise<CallRecord[]>;
  counts(fn?: string): Promise<CallCounts>;
  /** Removes finished records past retention (dead letters past theirs); returns how many. */
  purge(now: number, retention: { finishedMs: number; deadMs: number }): Promise<number>;
}
