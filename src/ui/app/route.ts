// Where the dashboard is: the URL's fragment (`#/ns/default/fn/hello/logs?call=…`), so every view has a link
// and the server serves one page.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** Path segments, decoded. */
  parts: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#/, '');
  const q = hash.indexOf('?');
  const path = q === -1 ? hash : hash.slice(0, q);
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  return { parts, query: new URLSearchParams(q === -1 ? '' : hash.slice(q + 1)) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** A link to a view: `href('ns', 'team-a', 'fn', 'hello')` → `#/ns/team-a/fn/hello`. */
export function href(...parts: (string | Record<string, string>)[]): string {
  const path = parts.filter((p): p is string => typeof p === 'string').map(encodeURIComponent);
  const params = parts.find((p): p is Record<string, string> => typeof p !== 'string');
  const search = params ? new URLSearchParams(params).toString() : '';
  return `#/${path.join('/')}${search ? `?${search}` : ''}`;
}

export function navigate(to: string): void {
  location.hash = to.replace(/^#/, '');
}
