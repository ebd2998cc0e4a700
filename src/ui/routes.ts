// GET /ui: the dashboard's page, script and stylesheet, from the bundle `npm run build` makes. Public (the
// files hold no secret; the dashboard asks for a key and sends it to the API itself), each answer with a
// strict Content-Security-Policy, a strong ETag, and cache headers: hashed names for ever, the page never
// without revalidating.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../errors.js';
import type { Router } from '../gateway/router.js';
import { loadStaticFiles, type StaticFile, UI_BUNDLE_DIR } from './static-files.js';

/**
 * Scripts and styles from the bundle only (no inline code, no eval), data only from this origin, no frames,
 * no forms posting anywhere, no plugins; DOM sinks take no strings (Trusted Types).
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export interface UiRoutesOptions {
  /** The bundle directory. Default dist/ui/public. */
  dir?: string;
}

export function uiRoutes(options: UiRoutesOptions = {}): (router: Router) => void {
  const dir = options.dir ?? UI_BUNDLE_DIR;
  // Read on first use and kept (a build while running takes effect at the next start); until the bundle
  // exists, every request looks again.
  let files: Map<string, StaticFile> | undefined;
  const file = (path: string): StaticFile | undefined => {
    files ??= loadStaticFiles(dir);
    if (!files) throw new NimbusError('ERR_UI_NOT_BUILT', [dir]);
    return files.get(path);
  };
  const index = ({ req, res }: { req: IncomingMessage; res: ServerResponse }): void => {
    send(req, res, file('index.html'), 'no-cache');
  };
  return (router) => {
    router
      .add('GET', '/ui', index, { access: 'public' })
      .add('GET', '/ui/', index, { access: 'public' })
      .add(
        'GET',
        '/ui/:file',
        ({ req, res, params, url }) => {
          // Looked up by exact name: `..`, encoded slashes or absolute paths name no entry of the table.
          const found = file(params.file!);
          if (!found) throw new NimbusError('ERR_ROUTE_NOT_FOUND', [req.method!, url.pathname.slice(0, 200)]);
          send(req, res, found, found.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
        },
        { access: 'public' },
      );
  };
}

function send(req: IncomingMessage, res: ServerResponse, found: StaticFile | undefined, cache: string): void {
  req.resume();
  if (!found) throw new NimbusError('ERR_UI_NOT_BUILT', ['index.html']);
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    'cache-control': cache,
    etag: found.etag,
  };
  if (found.gzip) headers.vary = 'accept-encoding';
  if (matches(req.headers['if-none-match'], found.etag)) {
    res.writeHead(304, headers).end();
    return;
  }
  const gzip = found.gzip !== undefined && acceptsGzip(req.headers['accept-encoding']);
  const body = gzip ? found.gzip! : found.body;
  headers['content-type'] = found.contentType;
  headers['content-length'] = body.length;
  if (gzip) headers['content-encoding'] = 'gzip';
  res.writeHead(200, headers).end(body);
}

/** If-None-Match lists the ETag (or is `*`). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === etag || tag === '*');
}

function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.find((p) => p.trim().startsWith('q='));
    return q === undefined || Number(q.trim().slice(2)) > 0;
  });
}
