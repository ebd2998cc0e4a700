// The dashboard's built files (dist/ui/public), read once into memory: a request names a file by its path in
// the bundle and gets it from a table, so nothing outside the bundle directory can be named at all.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Where `npm run build` writes the dashboard (the same path from src/ui under tsx and from dist/ui). */
export const UI_BUNDLE_DIR = new URL('../../dist/ui/public/', import.meta.url).pathname;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Text types worth compressing. */
const COMPRESSIBLE = /^(text\/|application\/json|application\/manifest\+json|image\/svg\+xml)/;

/** A file name with a content hash (`app-3XKQ2Z7M.js`): its content never changes under that name. */
const HASHED_NAME = /-[A-Z0-9]{8}\.[a-z]+$/;

/** Files read from the bundle directory at most (it holds a handful). */
const MAX_FILES = 200;

export interface StaticFile {
  body: Buffer;
  /** The body gzipped, when that is smaller. */
  gzip: Buffer | undefined;
  contentType: string;
  /** A strong validator: a hash of the body. */
  etag: string;
  /** Named by its content hash: cacheable for ever. */
  immutable: boolean;
}

/**
 * Reads the regular files directly in `dir` (the build writes a flat directory; subdirectories and symbolic
 * links are skipped); undefined when `dir` does not exist.
 */
export function loadStaticFiles(dir: string): Map<string, StaticFile> | undefined {
  let entries: string[];
  try {
    entries = regularFiles(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const files = new Map<string, StaticFile>();
  for (const path of entries) {
    const body = readFileSync(join(dir, path));
    const contentType = CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
    const zipped = COMPRESSIBLE.test(contentType) ? gzipSync(body, { level: 9 }) : undefined;
    files.set(path, {
      body,
      gzip: zipped && zipped.length < body.length ? zipped : undefined,
      contentType,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: HASHED_NAME.test(path),
    });
  }
  return files;
}

/** Names of the regular files directly in `dir`. */
function regularFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!lstatSync(join(dir, name)).isFile()) continue;
    found.push(name);
    if (found.length > MAX_FILES) throw new Error(`more than ${MAX_FILES} files in ${dir}`);
  }
  return found;
}
