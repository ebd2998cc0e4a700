// Where /system/logs reads a function's lines: this node's LogStore on a single node; every node's in a
// cluster (cluster/cluster-logs.ts). Past lines, then (following) every new one, without a gap or a repeat.
import type { LogEntry, LogQuery, LogStore } from './log-store.js';

/** A line as a reader sees it: in a cluster its instance is `<node>/<instance>` (instance ids are per node). */
export type LogLine = Omit<LogEntry, 'seq'>;

export interface LogFilter extends Omit<LogQuery, 'afterSeq' | 'instance'> {
  /** Only this instance's lines: its id as lines show it (`<node>/<instance>` in a cluster, or the bare id). */
  instance?: string;
}

export interface LogSource {
  /** The kept lines of `fn` that pass `filter`, oldest first. */
  query(fn: string, filter: LogFilter): Promise<LogLine[]>;
  /**
   * The kept lines (`onLines` once with them, maybe none), then every new line as it comes, until the returned
   * function is called; `onClose` when the source closes first (the platform shuts down).
   */
  follow(fn: string, filter: LogFilter, onLines: (lines: LogLine[]) => void, onClose: () => void): () => void;
}

/** Whether a line of `instance` passes an instance filter. */
export function instanceMatches(wanted: string | undefined, instance: string): boolean {
  if (wanted === undefined) return true;
  return wanted === instance || (!wanted.includes('/') && instance.endsWith(`/${wanted}`));
}

/** One node's lines: its LogStore as it is. */
export function localLogSource(store: LogStore): LogSource {
  const read = (fn: string, filter: LogFilter): LogLine[] =>
    store.query(fn, {
      ...(filter.tail === undefined ? {} : { tail: filter.tail }),
      ...(filter.sinceMs === undefined ? {} : { sinceMs: filter.sinceMs }),
      ...(filter.instance === undefined ? {} : { instance: filter.instance }),
    });
  return {
    query: async (fn, filter) => read(fn, filter),
    follow(fn, filter, onLines, onClose) {
      // Synchronous: no line can come between the query and the subscription.
      onLines(read(fn, filter));
      return store.subscribe(
        fn,
        (e) => {
          if (instanceMatches(filter.instance, e.instance)) onLines([e]);
        },
        onClose,
      );
    },
  };
}
