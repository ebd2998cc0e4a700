// The platform's run directory (instance directories, sockets, staged bundles): private to the platform's
// user, marked with the gateway's pid, and swept at the next start once that gateway is gone.
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Names the gateway owning a run directory: `<pid> <start time in clock ticks>` (a pid alone is reused). */
export const RUN_DIR_OWNER_FILE = 'gateway.pid';
const RUN_DIR_PREFIX = 'nimbus-';
/** What mkdtemp makes of the prefix: six characters follow it. */
const RUN_DIR_RE = /^nimbus-[A-Za-z0-9]{6}$/;

export interface RunDirOptions {
  /** Where run directories live. Default os.tmpdir(): Unix socket paths must stay short (~107 bytes). */
  base?: string;
  pid?: number;
  /** The owner line of a live process, or null when it is gone (injectable for tests). */
  ownerOf?: (pid: number) => string | null;
  uid?: number;
}

/**
 * Makes a fresh run directory (mode 0700) and writes its owner file, after removing the run directories
 * of gateways of this user that are no longer running (a crashed gateway leaves its instances' staged
 * code behind). Returns the new directory and what was swept.
 */
export function createRunDir(options: RunDirOptions = {}): { dir: string; swept: string[] } {
  const base = options.base ?? tmpdir();
  const pid = options.pid ?? process.pid;
  const ownerOf = options.ownerOf ?? ownerLine;
  const swept = sweepRunDirs(base, ownerOf, options.uid ?? process.getuid?.() ?? -1);
  const dir = mkdtempSync(join(base, RUN_DIR_PREFIX));
  const owner = ownerOf(pid);
  writeFileSync(join(dir, RUN_DIR_OWNER_FILE), `${owner ?? pid}\n`, { mode: 0o600 });
  return { dir, swept };
}

/**
 * Removes `nimbus-XXXXXX` directories under `base` owned by `uid` whose owner file names a gateway that
 * is gone (or a pid now used by another process). A directory without an owner file is left alone: it
 * may be one being made right now, or one of an older Nimbus whose gateway may live.
 */
export function sweepRunDirs(base: string, ownerOf: (pid: number) => string | null, uid: number): string[] {
  const swept: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return swept;
  }
  for (const name of names) {
    if (!RUN_DIR_RE.test(name)) continue;
    const dir = join(base, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid) continue;
      const recorded = readFileSync(join(dir, RUN_DIR_OWNER_FILE), 'utf8').trim();
      const pid = Number(recorded.split(' ')[0]);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      if (ownerOf(pid) === recorded) continue;
      rmSync(dir, { recursive: true, force: true });
      swept.push(dir);
    } catch {}
  }
  return swept;
}

/**
 * `<pid> <start time>` of a running process (field 22 of /proc/<pid>/stat), or null when there is none.
 * Without /proc (not Linux) the pid alone, while a process has it.
 */
export function ownerLine(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${pid} ${fields[19]}`;
  } catch {}
  if (existsSync('/proc/self/stat')) return null;
  try {
    process.kill(pid, 0);
    return String(pid);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? String(pid) : null;
  }
}
