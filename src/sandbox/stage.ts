// Puts a function's bundle into a sandboxed stem cell after it started, through the directory bound at /fn.
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface StageOptions {
  /**
   * The sandbox runs as an unprivileged host user that does not own the bundle: make every staged
   * directory searchable and every file readable by others. A file the bundle holds without read
   * permission for others is copied (and the copy made readable) rather than linked, so the stored
   * bundle itself is never changed.
   */
  worldReadable?: boolean;
}

/**
 * A sandbox's mounts are fixed when it starts, but a stem cell is started before anyone knows which
 * function it will run. So a stem cell gets an empty per-instance directory bound read-only at /fn,
 * and at specialization the platform fills it from the outside — the sandbox sees the files appear
 * (a bind mount shows its directory's live contents) — before it sends LOAD with bundleDir /fn.
 * Files are hard-linked (no copy, microseconds), or copied where the run dir and the data dir are on
 * different filesystems. The sandbox cannot write them: /fn is read-only inside.
 */
export function stageBundle(bundleDir: string, stagedDir: string, options: StageOptions = {}): void {
  mkdirSync(stagedDir, { recursive: true });
  // Whatever the umask: the sandbox's user must be able to search it.
  if (options.worldReadable) chmodSync(stagedDir, 0o755);
  for (const entry of readdirSync(bundleDir, { withFileTypes: true })) {
    const from = join(bundleDir, entry.name);
    const to = join(stagedDir, entry.name);
    if (entry.isDirectory()) {
      stageBundle(from, to, options);
    } else if (entry.isFile()) {
      const mode = options.worldReadable ? statSync(from).mode & 0o777 : 0o444;
      if ((mode & 0o004) === 0) {
        copyFileSync(from, to);
        // Readable by all; executable by all where the owner could execute it.
        chmodSync(to, 0o444 | (mode & 0o100 ? 0o111 : 0));
        continue;
      }
      try {
        linkSync(from, to);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EXDEV' && code !== 'EPERM') throw err;
        copyFileSync(from, to);
      }
    }
    // Symlinks and special files are not staged: a bundle is plain files, and a link could point anywhere.
  }
}
