// The content address of a bundle: sha256 over its files' paths, exec bits and contents, in a fixed order,
// so the same code always has the same hash whatever archive carried it.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function listBundleFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) return listBundleFiles(join(dir, entry.name), rel);
      return entry.isFile() ? [rel] : [];
    })
    .sort();
}

export function hashBundleDir(dir: string): string {
  const outer = createHash('sha256');
  for (const rel of listBundleFiles(dir)) {
    const path = join(dir, rel);
    const exec = (statSync(path).mode & 0o111) !== 0 ? 'x' : '-';
    const inner = createHash('sha256').update(readFileSync(path)).digest('hex');
    outer.update(`${rel}\0${exec}\0${inner}\n`);
  }
  return outer.digest('hex');
}

export const BUNDLE_HASH_RE = /^[a-f0-9]{64}$/;
