// Sandbox feature detection, run once at start: bubblewrap, user namespaces, seccomp, cgroup v2/v1, rlimit tools.
import { execFile } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import { join } from 'node:path';
import { PROC_MASKABLE } from './bwrap.js';
import {
  CGROUP_CONTROLLERS,
  type CgroupController,
  type CgroupFs,
  type CgroupSupport,
  nodeCgroupFs,
} from './cgroups.js';
import { type EgressSupport, REQUIRED_SLIRP_OPTIONS } from './egress.js';
import { planRlimits } from './rlimits.js';
import { type SeccompArch, seccompArchOf } from './seccomp.js';

/** What the installed bubblewrap can do (options differ between releases). */
export interface BwrapSupport {
  readonly path: string;
  /** e.g. `0.8.0`. */
  readonly version: string;
  /** `--size` for a size-limited tmpfs (bubblewrap ≥ 0.8). */
  readonly tmpfsSize: boolean;
  /** `--clearenv` (bubblewrap ≥ 0.5); without it the already scrubbed launch environment passes through. */
  readonly clearEnv: boolean;
  /** `--disable-userns`: no nested user namespaces inside the sandbox (bubblewrap ≥ 0.8). */
  readonly disableUserns: boolean;
}

/** A top-level directory of the host root that may be a symlink into /usr (merged-/usr systems). */
export interface RootEntry {
  /** `/bin`, `/lib64`, … */
  readonly path: string;
  /** The symlink's target (`usr/bin`), or null for a real directory. */
  readonly symlink: string | null;
}

export interface SandboxFeatures {
  /** Bubblewrap, when it exists and works here; null otherwise (see bwrapProblem). */
  readonly bwrap: BwrapSupport | null;
  /** Why instances run without bubblewrap; null when they run under it. */
  readonly bwrapProblem: string | null;
  /** A new user namespace can be created by the platform's own user. */
  readonly userNamespaces: boolean;
  /**
   * Bubblewrap works for an unprivileged user (nobody), so a root platform can run instances as an
   * unprivileged host user (`runAs`). Equal to the bwrap probe when the platform is not root.
   */
  readonly unprivilegedUserNamespaces: boolean;
  /**
   * slirp4netns, which gives a `network: true` sandbox (always in its own network namespace) the outside
   * world; null where it is missing or unusable (see egressProblem): such sandboxes have loopback only.
   */
  readonly egress: EgressSupport | null;
  /** Why `network: true` sandboxes have no egress; null when they have. */
  readonly egressProblem: string | null;
  /** The architecture a seccomp filter is built for; null where none is (then no filter is loaded). */
  readonly seccomp: SeccompArch | null;
  readonly cgroup: CgroupSupport;
  /** util-linux `prlimit`, which sets rlimits before exec. */
  readonly prlimitPath: string | null;
  /** util-linux `setpriv`, which drops to another uid before exec. */
  readonly setprivPath: string | null;
  /** A POSIX shell, for the launcher that joins cgroups before exec. */
  readonly shPath: string;
  readonly hostRoot: readonly RootEntry[];
  /** The entries of PROC_MASKABLE present on this host. */
  readonly procMasks: readonly string[];
  /** The platform's uid. */
  readonly uid: number;
}

export interface DetectOptions {
  /**
   * cgroup v2 only: the cgroup (path below the cgroup2 mount, e.g. `/system.slice/nimbus.service`) to
   * create instance cgroups in. It must be delegated to the platform's user and hold no processes
   * itself (systemd: `Delegate=yes` with `DelegateSubgroup=main`, then the service's cgroup). Default:
   * the platform's own cgroup, which works when it is the root cgroup.
   */
  cgroupParent?: string;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Everything detection touches, injectable for tests. */
export interface DetectDeps {
  /** Directories searched for bwrap, prlimit, setpriv: system directories, never the user's PATH. */
  searchPath: readonly string[];
  run(command: string, args: readonly string[]): Promise<RunResult>;
  /** A file's text, or null when it cannot be read. */
  readText(path: string): string | null;
  /** Resolved path of an executable file, or null. */
  executable(path: string): string | null;
  exists(path: string): boolean;
  /** Whether the platform's user may open the file for reading and writing (/dev/net/tun). */
  readWrite(path: string): boolean;
  /** For hostRoot: 'dir', a symlink's target, or null when the path does not exist. */
  rootEntry(path: string): { symlink: string | null } | null;
  cgroupFs: CgroupFs;
  uid: number;
  pid: number;
  /** `process.arch`. */
  arch: string;
}

const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const ROOT_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const NOBODY = 65534;
/** The control file whose presence proves a controller is usable in a freshly made cgroup. */
const V1_CONTROL_FILE: Record<CgroupController, string> = {
  memory: 'memory.limit_in_bytes',
  pids: 'pids.max',
  cpu: 'cpu.cfs_quota_us',
};
const V2_CONTROL_FILE: Record<CgroupController, string> = {
  memory: 'memory.max',
  pids: 'pids.max',
  cpu: 'cpu.max',
};

export const defaultDetectDeps: DetectDeps = {
  searchPath: SYSTEM_PATH,
  run: (command, args) =>
    new Promise((resolve) => {
      execFile(
        command,
        args,
        { timeout: 10_000, env: { PATH: SYSTEM_PATH.join(':') }, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    }),
  readText: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  },
  executable: (path) => {
    try {
      accessSync(path, constants.X_OK);
      return realpathSync(path);
    } catch {
      return null;
    }
  },
  exists: (path) => existsSync(path),
  readWrite: (path) => {
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  },
  rootEntry: (path) => {
    try {
      const stat = lstatSync(path);
      return { symlink: stat.isSymbolicLink() ? readlinkSync(path) : null };
    } catch {
      return null;
    }
  },
  cgroupFs: nodeCgroupFs,
  uid: process.getuid?.() ?? -1,
  pid: process.pid,
  arch: process.arch,
};

/** Finds out once what isolation and limits this host allows. Never throws: what fails is reported. */
export async function detectSandbox(
  options: DetectOptions = {},
  deps: Partial<DetectDeps> = {},
): Promise<SandboxFeatures> {
  const d: DetectDeps = { ...defaultDetectDeps, ...deps };
  const find = (name: string): string | null => {
    for (const dir of d.searchPath) {
      const found = d.executable(join(dir, name));
      if (found) return found;
    }
    return null;
  };
  const shPath = d.executable('/bin/sh') ?? '/bin/sh';
  const prlimitPath = find('prlimit');
  const setprivPath = find('setpriv');
  const hostRoot: RootEntry[] = [];
  for (const path of ROOT_DIRS) {
    const entry = d.rootEntry(path);
    if (entry) hostRoot.push(Object.freeze({ path, symlink: entry.symlink }));
  }

  let bwrap: BwrapSupport | null = null;
  let bwrapProblem: string | null = null;
  let userNamespaces = false;
  let unprivilegedUserNamespaces = false;
  const bwrapPath = find('bwrap');
  if (!bwrapPath) {
    bwrapProblem = 'bwrap not found: apt install bubblewrap';
  } else {
    const [version, help] = await Promise.all([
      d.run(bwrapPath, ['--version']),
      d.run(bwrapPath, ['--help']),
    ]);
    const helpText = help.stdout + help.stderr;
    const probeArgs = [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-net',
      '--unshare-cgroup-try',
      '--die-with-parent',
      '--new-session',
      '--cap-drop',
      'ALL',
      '--ro-bind',
      '/',
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      '--',
      shPath,
      '-c',
      'exit 0',
    ];
    const probe = await d.run(bwrapPath, probeArgs);
    if (probe.code === 0) {
      userNamespaces = true;
      bwrap = Object.freeze({
        path: bwrapPath,
        version: /(\d+\.\d+(?:\.\d+)?)/.exec(version.stdout)?.[1] ?? 'unknown',
        tmpfsSize: helpText.includes('--size'),
        clearEnv: helpText.includes('--clearenv'),
        disableUserns: helpText.includes('--disable-userns'),
      });
      if (d.uid !== 0) {
        unprivilegedUserNamespaces = true;
      } else if (setprivPath) {
        const asNobody = await d.run(setprivPath, [
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          '--clear-groups',
          bwrapPath,
          ...probeArgs,
        ]);
        unprivilegedUserNamespaces = asNobody.code === 0;
      }
    } else {
      const why = firstLine(probe.stderr) || `exit code ${probe.code}`;
      bwrapProblem = `bwrap does not work here: ${why}`;
      const maxUserNs = Number(d.readText('/proc/sys/user/max_user_namespaces') ?? '0');
      if (maxUserNs === 0)
        bwrapProblem += ' (user namespaces are disabled: sysctl user.max_user_namespaces=0)';
    }
  }

  const { egress, egressProblem } = bwrap
    ? await detectEgress(d, find)
    : { egress: null, egressProblem: 'no bubblewrap' };

  return Object.freeze({
    bwrap,
    bwrapProblem,
    userNamespaces,
    unprivilegedUserNamespaces,
    egress,
    egressProblem,
    seccomp: bwrap ? seccompArchOf(d.arch) : null,
    cgroup: Object.freeze(detectCgroups(d, options)),
    prlimitPath,
    setprivPath,
    shPath,
    hostRoot: Object.freeze(hostRoot),
    procMasks: Object.freeze(PROC_MASKABLE.filter((path) => d.exists(path))),
    uid: d.uid,
  });
}

/** slirp4netns with the options Nimbus relies on, and a TUN device the platform may open. */
async function detectEgress(
  d: DetectDeps,
  find: (name: string) => string | null,
): Promise<{ egress: EgressSupport | null; egressProblem: string | null }> {
  const path = find('slirp4netns');
  if (!path) return { egress: null, egressProblem: 'slirp4netns not found: apt install slirp4netns' };
  const [version, help] = await Promise.all([d.run(path, ['--version']), d.run(path, ['--help'])]);
  if (version.code !== 0)
    return {
      egress: null,
      egressProblem: `${path} does not run here: ${firstLine(version.stderr) || `exit code ${version.code}`}`,
    };
  const helpText = help.stdout + help.stderr;
  const missing = REQUIRED_SLIRP_OPTIONS.filter((option) => !helpText.includes(option));
  if (missing.length > 0)
    return {
      egress: null,
      egressProblem: `${path} is too old (no ${missing.join(', ')}): slirp4netns 1.1 or later is needed`,
    };
  if (!d.readWrite('/dev/net/tun'))
    return {
      egress: null,
      egressProblem: `/dev/net/tun cannot be opened by uid ${d.uid} (slirp4netns needs it; modprobe tun, or check its mode)`,
    };
  const egress: EgressSupport = Object.freeze({
    path,
    version: /(\d+\.\d+(?:\.\d+)?)/.exec(version.stdout)?.[1] ?? 'unknown',
    seccomp: helpText.includes('--enable-seccomp'),
  });
  return { egress, egressProblem: null };
}

interface CgroupMount {
  version: 1 | 2;
  /** The mount's root inside the cgroup hierarchy (field 4 of mountinfo). */
  root: string;
  mountPoint: string;
  /** v1: the controllers of this hierarchy. */
  controllers: string[];
}

/** Parses the cgroup mounts out of /proc/self/mountinfo. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    const root = unescapeMountPath(fields[3] ?? '/');
    const mountPoint = unescapeMountPath(fields[4] ?? '');
    if (fsType === 'cgroup2') mounts.push({ version: 2, root, mountPoint, controllers: [] });
    else if (fsType === 'cgroup')
      mounts.push({ version: 1, root, mountPoint, controllers: superOptions.split(',') });
  }
  return mounts;
}

/** Parses /proc/self/cgroup: hierarchy controllers (`''` for v2) → the process's cgroup path. */
export function parseProcCgroup(text: string): { controllers: string[]; path: string }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, controllers = '', ...path] = line.split(':');
      return { controllers: controllers ? controllers.split(',') : [], path: path.join(':') };
    });
}

function detectCgroups(d: DetectDeps, options: DetectOptions): CgroupSupport {
  const mounts = parseCgroupMounts(d.readText('/proc/self/mountinfo') ?? '');
  const own = parseProcCgroup(d.readText('/proc/self/cgroup') ?? '');
  const probeName = `nimbus-probe-${d.pid}`;
  const reasons: string[] = [];

  // v2: one hierarchy; controllers must be enabled in the parent for its children to have them.
  let v2: CgroupSupport | null = null;
  const mount2 = mounts.find((m) => m.version === 2);
  const ownPath2 = own.find((o) => o.controllers.length === 0 && o.path !== '')?.path;
  if (mount2 && ownPath2 !== undefined) {
    const parent = cgroupDir(mount2, options.cgroupParent ?? ownPath2);
    const available = (d.cgroupFs.read(join(parent, 'cgroup.controllers')) ?? '').trim().split(/\s+/);
    const wanted = CGROUP_CONTROLLERS.filter((c) => available.includes(c));
    if (wanted.length === 0) {
      reasons.push(`v2: ${parent} offers none of ${CGROUP_CONTROLLERS.join(', ')} (they are on v1)`);
    } else {
      try {
        d.cgroupFs.write(join(parent, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
        const probe = join(parent, probeName);
        d.cgroupFs.mkdir(probe);
        const usable = wanted.filter((c) => d.cgroupFs.read(join(probe, V2_CONTROL_FILE[c])) !== null);
        d.cgroupFs.rmdir(probe);
        if (usable.length > 0) v2 = { version: 2, parent, controllers: Object.freeze(usable) };
        else reasons.push(`v2: no controller reached ${probe}`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        reasons.push(
          code === 'EBUSY'
            ? `v2: ${parent} holds processes, so it cannot hand controllers down; set cgroupParent to a delegated cgroup without processes`
            : `v2: ${parent} is not writable (${code ?? (err as Error).message}); delegate it to the platform's user`,
        );
      }
    }
  } else {
    reasons.push('v2: not mounted');
  }
  if (v2?.controllers.includes('memory')) return v2;

  // v1: a hierarchy per controller (cpu is often co-mounted with cpuacct); nest under our own cgroup.
  const parents: Partial<Record<CgroupController, string>> = {};
  const usable: CgroupController[] = [];
  for (const controller of CGROUP_CONTROLLERS) {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    const ownPath = own.find((o) => o.controllers.includes(controller))?.path;
    if (!mount || ownPath === undefined) continue;
    const parent = cgroupDir(mount, ownPath);
    const probe = join(parent, probeName);
    try {
      d.cgroupFs.mkdir(probe);
      const ok = d.cgroupFs.read(join(probe, V1_CONTROL_FILE[controller])) !== null;
      d.cgroupFs.rmdir(probe);
      if (ok) {
        parents[controller] = parent;
        usable.push(controller);
      }
    } catch (err) {
      reasons.push(
        `v1 ${controller}: ${parent} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (usable.length > 0)
    return { version: 1, parents: Object.freeze(parents), controllers: Object.freeze(usable) };
  if (v2) return v2;
  if (!mounts.some((m) => m.version === 1)) reasons.push('v1: not mounted');
  return { version: null, reason: `no writable cgroups (${reasons.join('; ')})` };
}

/**
 * The one-line summary `nimbus up` prints: which isolation, network and limits are in force. `runAs`: the
 * instances run as an unprivileged host user (with bubblewrap, or in its stead).
 */
export function describeSandbox(features: SandboxFeatures, options: { runAs?: boolean } = {}): string {
  let isolation: string;
  let network: string;
  if (features.bwrap) {
    const extras = [features.seccomp ? 'seccomp' : 'no seccomp filter for this architecture'];
    if (!features.bwrap.tmpfsSize) extras.push('/tmp not size-limited (bwrap < 0.8)');
    if (options.runAs) extras.push('unprivileged host user');
    isolation = `bubblewrap ${features.bwrap.version} (user, pid, ipc, uts, net, cgroup, mount namespaces; ${extras.join('; ')})`;
    network = features.egress
      ? `a namespace per instance, egress through slirp4netns ${features.egress.version} (never the host's loopback)`
      : `a namespace per instance, loopback only: network: true gets no egress (${features.egressProblem})`;
  } else if (options.runAs) {
    isolation = `an unprivileged host user only, no namespaces (${features.bwrapProblem ?? 'bwrap not used'})`;
    network = "the host's: instances can reach each other and the host's loopback";
  } else {
    isolation = `none (${features.bwrapProblem ?? 'bwrap not used'})`;
    network = "the host's";
  }
  const cg = features.cgroup;
  const has = (c: CgroupController): boolean => cg.version !== null && cg.controllers.includes(c);
  const plan = planRlimits(
    { memoryMb: 1, cpu: 1, maxProcesses: 1 },
    {
      memoryCgroup: has('memory'),
      pidsCgroup: has('pids'),
      ownUserNamespace: features.bwrap !== null,
      hostUid: options.runAs ? NOBODY : features.uid,
    },
  );
  const parts: string[] = [];
  if (cg.version !== null) parts.push(`cgroup v${cg.version} (${cg.controllers.join(', ')})`);
  const rlimits = [plan.dataBytes !== null ? 'data' : '', plan.nproc !== null ? 'nproc' : ''].filter(Boolean);
  if (rlimits.length > 0 && features.prlimitPath) parts.push(`rlimits (${rlimits.join(', ')})`);
  if (!has('memory')) parts.push('V8 heap');
  const missing: string[] = [];
  if (!has('pids') && (plan.nproc === null || !features.prlimitPath)) missing.push('no process limit');
  if (!has('cpu')) missing.push('no CPU limit');
  let limits = parts.join(' + ');
  if (missing.length > 0) limits += `; ${missing.join(', ')}`;
  if (cg.version === null) limits += ` (${cg.reason})`;
  return `isolation: ${isolation}, network: ${network}, limits: ${limits}`;
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .find((line) => line.trim())
      ?.trim() ?? ''
  );
}

/**
 * The directory of a cgroup path (as /proc/self/cgroup shows it) under a mount; the mount may show only
 * a subtree of the hierarchy (a container's), whose root is then cut off the path.
 */
function cgroupDir(mount: CgroupMount, path: string): string {
  const below = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
  return below === '/' || below === '' ? mount.mountPoint : join(mount.mountPoint, below);
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}
