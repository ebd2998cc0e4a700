// The bubblewrap command line of one instance (pure): namespaces (its own network namespace always), a
// read-only root with only what runs the function bound in at fixed paths, the bundle at /fn, its own
// socket, a private size-limited /tmp, a scratch env.

/** Where the function's bundle appears inside the sandbox (read-only). */
export const SANDBOX_BUNDLE_DIR = '/fn';
/** Where the instance's socket appears inside the sandbox (NIMBUS_SOCKET points here). */
export const SANDBOX_SOCKET_PATH = '/run/nimbus/socket';
/**
 * Where the gateway's own Unix socket is bound (when it has one): the runner forwards connections to the
 * gateway's port on the sandbox's loopback to it, so a function calls the platform's APIs (with its own
 * key) while nothing else on the host's loopback is in its reach.
 */
export const SANDBOX_GATEWAY_SOCKET_PATH = '/run/nimbus/gateway.sock';
/**
 * The port on the sandbox's own loopback where the runner forwards to the gateway's socket: NIMBUS_URL is
 * http://127.0.0.1:SANDBOX_GATEWAY_PORT inside. Fixed and out of the way of the ports servers usually take
 * (8080, 3000, 5000, 8000); an http-mode program gets a port the kernel picks, never this one.
 */
export const SANDBOX_GATEWAY_PORT = 38080;
export const SANDBOX_HOSTNAME = 'nimbus';
/**
 * Where files the command needs from outside the system directories (the runner) appear inside the
 * sandbox: at `<dir>/<name>`, whatever their host path, so what a function sees (its stack traces, its
 * root directory) does not depend on where Nimbus is installed.
 */
export const SANDBOX_RUNNER_DIR = '/run/nimbus/runner';
/** Where a runtime installed outside the system directories (nvm, pyenv, /opt) appears inside the sandbox. */
export const SANDBOX_RUNTIME_DIR = '/run/nimbus/runtime';

/** A host path bound read-only into the sandbox, and where it appears there. */
export interface SandboxBind {
  host: string;
  sandbox: string;
}

/**
 * Files of /etc a runtime may need, each bound read-only if it exists. Nothing else of /etc is visible:
 * not shadow, not ssl/private, not the platform's config. passwd/group are left out too (they list the
 * host's accounts); a process asking for its user name gets none.
 */
export const ETC_BINDS: readonly string[] = [
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/localtime',
  '/etc/timezone',
  '/etc/hosts',
  '/etc/host.conf',
  '/etc/nsswitch.conf',
  '/etc/gai.conf',
  '/etc/protocols',
  '/etc/services',
  '/etc/mime.types',
  '/etc/ssl/certs',
  '/etc/ssl/openssl.cnf',
  '/etc/pki/tls/certs',
  '/etc/pki/ca-trust/extracted',
  '/etc/ca-certificates',
];

/**
 * Parts of /proc that reach beyond the sandbox, bound read-only from the host (each if it exists).
 * bwrap covers a few itself, but decides by access(2), which says "not writable" for /proc/sys even
 * where the files below it are: for a root platform (uid 0 inside maps to host root) the host's global
 * sysctls would otherwise be writable from inside.
 */
export const PROC_READ_ONLY: readonly string[] = [
  '/proc/sys',
  '/proc/sysrq-trigger',
  '/proc/irq',
  '/proc/bus',
  '/proc/fs',
  '/proc/acpi',
  '/proc/scsi',
  '/proc/driver',
  '/proc/asound',
];

/**
 * /proc files that reveal the host (its processes, kernel memory layout) to a root-mapped reader,
 * hidden under /dev/null. Only those that exist on the host may be listed (bwrap needs the target).
 */
export const PROC_MASKABLE: readonly string[] = [
  '/proc/kcore',
  '/proc/keys',
  '/proc/key-users',
  '/proc/timer_list',
  '/proc/sched_debug',
  '/proc/latency_stats',
  '/proc/slabinfo',
  '/proc/vmallocinfo',
  '/proc/pagetypeinfo',
  '/proc/kpagecount',
  '/proc/kpageflags',
  '/proc/kpagecgroup',
];

export interface BwrapOptions {
  /** The command to run in the sandbox and its arguments. */
  argv: readonly string[];
  /** The sandbox's whole environment. Visible in the host's process list: never put secrets here. */
  env: Readonly<Record<string, string>>;
  /** Host directory of the function's bundle, bound read-only at /fn (also the working directory). */
  bundleDir: string;
  /**
   * Host path of this instance's Unix socket. Only this one file is bound (at SANDBOX_SOCKET_PATH):
   * the run directory holds every instance's socket and must stay out of reach.
   */
  socketPath: string;
  /** Host path of the gateway's Unix socket, bound at SANDBOX_GATEWAY_SOCKET_PATH; null for none. */
  gatewaySocketPath: string | null;
  /** Host files or directories the command needs (runtime binary, runner), bound read-only where they appear. */
  binds: readonly SandboxBind[];
  /**
   * The sandbox always has its own network namespace (nothing another instance or the host listens on
   * is reachable). With egress, user-mode networking (slirp4netns, attached from outside once bwrap
   * reports the namespace on `infoFd`) connects it to the outside world, and this host file (naming the
   * DNS forwarder) is bound at /etc/resolv.conf. null: only loopback.
   */
  resolvConf: string | null;
  /** The fd bwrap reports the sandbox's pid on (`--info-fd`), or null. */
  infoFd: number | null;
  /** Size of the private /tmp and /dev/shm in MiB (when tmpfsSize). */
  tmpSizeMb: number;
  /** The host's /bin, /lib… : symlinks into /usr are recreated as symlinks, directories bound. */
  hostRoot: readonly { path: string; symlink: string | null }[];
  /** The entries of PROC_MASKABLE that exist on this host (from detection). */
  procMasks: readonly string[];
  /** What this bubblewrap supports (from detection). */
  tmpfsSize: boolean;
  clearEnv: boolean;
  disableUserns: boolean;
  /** The fd from which bwrap reads a compiled seccomp filter, or null for none. */
  seccompFd: number | null;
}

/** The arguments of `bwrap` (without the bwrap path itself) that run `argv` sandboxed. */
export function bwrapArgs(o: BwrapOptions): string[] {
  const args: string[] = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-net',
    '--unshare-cgroup-try',
  ];
  if (o.infoFd !== null) args.push('--info-fd', String(o.infoFd));
  args.push(
    // When the platform dies its instances die with it; no terminal to inject keystrokes into.
    '--die-with-parent',
    '--new-session',
    // As root bwrap would otherwise keep capabilities inside (enough to remount the binds writable).
    '--cap-drop',
    'ALL',
    '--hostname',
    SANDBOX_HOSTNAME,
  );
  if (o.disableUserns) args.push('--disable-userns');
  if (o.seccompFd !== null) args.push('--seccomp', String(o.seccompFd));
  if (o.clearEnv) args.push('--clearenv');
  for (const [name, value] of Object.entries(o.env)) args.push('--setenv', name, value);

  // The root is bwrap's own tmpfs; everything below is bound in read-only, then the root is sealed.
  args.push('--ro-bind', '/usr', '/usr');
  for (const entry of o.hostRoot) {
    if (entry.symlink !== null) args.push('--symlink', entry.symlink, entry.path);
    else args.push('--ro-bind-try', entry.path, entry.path);
  }
  for (const path of ETC_BINDS) args.push('--ro-bind-try', path, path);
  if (o.resolvConf !== null) args.push('--ro-bind', o.resolvConf, '/etc/resolv.conf');
  args.push('--proc', '/proc');
  for (const path of PROC_READ_ONLY) args.push('--ro-bind-try', path, path);
  for (const path of o.procMasks) args.push('--ro-bind', '/dev/null', path);
  args.push('--dev', '/dev', '--remount-ro', '/dev');
  const tmpSize = o.tmpfsSize ? ['--size', String(Math.floor(o.tmpSizeMb * 1024 * 1024))] : [];
  args.push(...tmpSize, '--tmpfs', '/tmp', ...tmpSize, '--tmpfs', '/dev/shm');
  for (const bind of o.binds) args.push('--ro-bind', bind.host, bind.sandbox);
  args.push('--ro-bind', o.bundleDir, SANDBOX_BUNDLE_DIR);
  // Read-only is enough: connect() on a socket needs no write access to the mount.
  args.push('--ro-bind', o.socketPath, SANDBOX_SOCKET_PATH);
  if (o.gatewaySocketPath !== null) args.push('--ro-bind', o.gatewaySocketPath, SANDBOX_GATEWAY_SOCKET_PATH);
  args.push('--remount-ro', '/', '--chdir', SANDBOX_BUNDLE_DIR, '--', ...o.argv);
  return args;
}
