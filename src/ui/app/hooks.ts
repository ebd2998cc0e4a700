// Loading data into components: once, or every few seconds while the tab is visible.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  /** Loads again now. */
  reload: () => void;
}

/**
 * Calls `load` now and whenever `deps` change; with `everyMs`, again that often while the page is visible.
 * An answer that arrives after a newer request started is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    loadRef.current().then(
      (data) => {
        if (mine === generation.current) setState({ data, error: undefined, loading: false });
      },
      (error: Error) => {
        if (mine === generation.current) setState((s) => ({ data: s.data, error, loading: false }));
      },
    );
  }, []);
  // The caller's deps decide when to load again.
  useEffect(() => {
    setState({ data: undefined, error: undefined, loading: true });
    run();
    if (everyMs === undefined) return;
    const timer = setInterval(() => {
      if (!document.hidden) run();
    }, everyMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, deps);
  return { ...state, reload: run };
}
