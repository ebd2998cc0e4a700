// Puts a function's bundle into a sandboxed stem cell after it started, through the directory bound at /fn.
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface StageOptions {
  /**
   * Copy every file rather than hard-link it: the staged directory is reachable by the sandbox's host
   * user (`runAs`), and a link would hand that user the stored bundle's own inode. Copies are read-only
   * for everyone (executable where the owner could execute), owned by the platform.
   */
  copy?: boolean;
}

/** setuid, setgid and sticky: never staged (a stored bundle never has them; an old store might). */
const SPECIAL_BITS = 0o7000;

/**
 * A sandbox's mounts are fixed when it starts, but a stem cell is started before anyone knows which
 * function it will run. So a stem cell gets an empty per-instance directory bound read-only at /fn,
 * and at specialization the platform fills it from the outside — the sandbox sees the files appear
 * (a bind mount shows its directory's live contents) — before it sends LOAD with bundleDir /fn.
 * Files are hard-linked (no copy, microseconds) where only the platform's user can reach the run
 * directory, else copied (see `copy`), and copied too where the run dir and the data dir are on
 * different filesystems. The sandbox cannot write them: /fn is read-only inside.
 */
export function stageBundle(bundleDir: string, stagedDir: string, options: StageOptions = {}): void {
  mkdirSync(stagedDir, { recursive: true });
  for (const entry of readdirSync(bundleDir, { withFileTypes: true })) {
    const from = join(bundleDir, entry.name);
    const to = join(stagedDir, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(to, { mode: 0o755 });
      // Whatever the umask: the sandbox's user must be able to search it.
      chmodSync(to, 0o755);
      stageBundle(from, to, options);
    } else if (entry.isFile()) {
      const mode = statSync(from).mode;
      if (!options.copy && (mode & SPECIAL_BITS) === 0) {
        try {
          linkSync(from, to);
          continue;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM') throw err;
        }
      }
      copyFileSync(from, to);
      chmodSync(to, 0o444 | (mode & 0o100 ? 0o111 : 0));
    }
    // Symlinks and special files are not staged: a bundle is plain files, and a link could point anywhere.
  }
}
