// Which unprivileged host user a root platform runs its sandboxes as, and whether that user can reach a file.
import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SandboxFeatures } from './detect.js';

export interface RunAsUser {
  uid: number;
  gid: number;
}

/** The conventional unprivileged user (and group, nogroup) of Debian and most distributions. */
export const NOBODY: RunAsUser = Object.freeze({ uid: 65534, gid: 65534 });

export interface RunAsChoice {
  runAs: RunAsUser | null;
  /** Why `auto` could not drop to an unprivileged user (for the start-up line), or null. */
  note: string | null;
}

/**
 * Resolves the `sandboxRunAs` setting (`auto`, `off`, `uid` or `uid:gid`) against the host. Only a root
 * platform changes user: any other already runs its sandboxes unprivileged. `auto` falls back to none with
 * a note; an explicit user the host cannot honour is an error (thrown, naming why). Without bubblewrap a
 * root platform runs its instances as that user all the same (setpriv alone).
 */
export function resolveRunAs(setting: string, features: SandboxFeatures): RunAsChoice {
  if (setting === 'off') return { runAs: null, note: null };
  const explicit = setting !== 'auto';
  const refuse = (why: string): RunAsChoice => {
    if (explicit) throw new Error(`sandboxRunAs ${setting}: ${why}`);
    return { runAs: null, note: why };
  };
  if (features.uid !== 0) {
    return explicit
      ? refuse('only a platform running as root can run instances as another user')
      : { runAs: null, note: null };
  }
  if (!features.setprivPath) return refuse('needs setpriv (util-linux)');
  // Without bubblewrap setpriv alone drops the user: all the isolation there is, and enough to keep
  // a function out of the data dir. With it, bwrap must work for that user.
  if (features.bwrap && !features.unprivilegedUserNamespaces)
    return refuse('unprivileged user namespaces do not work here (kernel.unprivileged_userns_clone=0?)');
  if (!explicit) return { runAs: NOBODY, note: null };
  const [uid, gid = uid] = setting.split(':').map(Number) as [number, number?];
  if (uid === 0) return refuse('uid 0 is root: use off instead');
  return { runAs: { uid, gid }, note: null };
}

/**
 * The first path on the way to `path` that `user` may not pass (a directory without search permission,
 * or the target without read permission, or search with `access: 'search'`), or null when it gets there. Owner, group and other bits
 * only: supplementary groups are dropped for the sandbox, and ACLs are not consulted.
 */
export function unreachableBy(
  path: string,
  user: RunAsUser,
  access: 'read' | 'search' = 'read',
): string | null {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return path;
  }
  const chain: string[] = [];
  for (let p = real; ; p = dirname(p)) {
    chain.unshift(p);
    if (p === dirname(p)) break;
  }
  for (const [i, p] of chain.entries()) {
    const st = statSync(p);
    const bits =
      st.uid === user.uid ? (st.mode >> 6) & 7 : st.gid === user.gid ? (st.mode >> 3) & 7 : st.mode & 7;
    const last = i === chain.length - 1;
    // Directories on the way need search (x); the target needs read (a directory: and search), or only search.
    const need = !last || access === 'search' ? 1 : st.isDirectory() ? 5 : 4;
    if ((bits & need) !== need) return p;
  }
  return null;
}
