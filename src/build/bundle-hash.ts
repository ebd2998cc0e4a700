// The content address of a bundle: sha256 over its files' paths, exec bits and contents, in a fixed order,
// so the same code always has the same hash whatever archive carried it. And what every way code arrives
// goes through first: plain files and directories only, with plain modes.
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export function listBundleFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) return listBundleFiles(join(dir, entry.name), rel);
      return entry.isFile() ? [rel] : [];
    })
    .sort();
}

/** Hashes every file as a stream, one after the other: memory stays flat whatever the bundle's size. */
export async function hashBundleDir(dir: string): Promise<string> {
  const outer = createHash('sha256');
  for (const rel of listBundleFiles(dir)) {
    const path = join(dir, rel);
    const exec = (statSync(path).mode & 0o111) !== 0 ? 'x' : '-';
    const inner = createHash('sha256');
    await pipeline(createReadStream(path), inner);
    outer.update(`${rel}\0${exec}\0${inner.digest('hex')}\n`);
  }
  return outer.digest('hex');
}

/**
 * Makes a bundle directory plain, whichever way it arrived (tar or zip upload, a source folder, stack.yml):
 * files 0755 where any exec bit was set, else 0644; directories 0755; anything else (a symlink, a
 * device, a fifo) removed. So no setuid or setgid bit, and nothing that points outside, ever reaches the
 * store or an instance. The hash (exec bit only) is the same before and after.
 */
export function normalizeBundleDir(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const st = lstatSync(path);
    if (st.isDirectory()) {
      chmodSync(path, 0o755);
      normalizeBundleDir(path);
    } else if (st.isFile()) {
      chmodSync(path, st.mode & 0o111 ? 0o755 : 0o644);
    } else {
      rmSync(path, { force: true });
    }
  }
}

/** Total size in bytes of a bundle directory's files. */
export function bundleBytes(dir: string): number {
  return listBundleFiles(dir).reduce((sum, rel) => sum + statSync(join(dir, rel)).size, 0);
}

export const BUNDLE_HASH_RE = /^[a-f0-9]{64}$/;
