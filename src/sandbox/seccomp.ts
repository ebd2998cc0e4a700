// A seccomp filter for sandboxed instances, assembled as classic BPF bytes here (no libseccomp, no compiler).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** CPU architectures a filter is built for (the syscall numbers differ per architecture). */
export type SeccompArch = 'x86_64' | 'aarch64';

/** Node's `process.arch` → the seccomp architecture, or null where no filter is built. */
export function seccompArchOf(nodeArch: string): SeccompArch | null {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  return null;
}

/**
 * What the filter refuses with EPERM, and why. Everything else is allowed: this is a deny list of
 * kernel surface a function has no use for (the same families Docker's and Flatpak's profiles refuse),
 * on top of what bwrap already removes (capabilities, other namespaces).
 */
export const BLOCKED_SYSCALLS = {
  // Reading or steering another process.
  ptrace: 'ptrace other processes',
  process_vm_readv: 'read another process’s memory',
  process_vm_writev: 'write another process’s memory',
  pidfd_getfd: 'steal another process’s file descriptors',
  kcmp: 'compare kernel objects of other processes',
  // Namespaces and mounts: the sandbox's shape is fixed when it starts.
  unshare: 'create namespaces (nested user namespaces are kernel attack surface)',
  setns: 'join namespaces',
  mount: 'mount filesystems',
  umount2: 'unmount filesystems',
  pivot_root: 'change the root filesystem',
  chroot: 'change the root directory',
  open_tree: 'new mount API',
  move_mount: 'new mount API',
  fsopen: 'new mount API',
  fsconfig: 'new mount API',
  fsmount: 'new mount API',
  fspick: 'new mount API',
  mount_setattr: 'new mount API',
  // The kernel itself.
  kexec_load: 'load a new kernel',
  kexec_file_load: 'load a new kernel',
  init_module: 'load kernel modules',
  finit_module: 'load kernel modules',
  delete_module: 'unload kernel modules',
  reboot: 'reboot',
  swapon: 'swap',
  swapoff: 'swap',
  syslog: 'read the kernel log',
  acct: 'process accounting',
  quotactl: 'disk quotas',
  quotactl_fd: 'disk quotas',
  settimeofday: 'set the clock',
  clock_settime: 'set the clock',
  clock_adjtime: 'set the clock',
  adjtimex: 'set the clock',
  // Large, often-exploited kernel interfaces no function needs.
  bpf: 'load eBPF programs',
  perf_event_open: 'performance counters (side channels, kernel exploits)',
  userfaultfd: 'userfaultfd (a common exploit primitive)',
  keyctl: 'kernel keyrings (not namespaced)',
  add_key: 'kernel keyrings (not namespaced)',
  request_key: 'kernel keyrings (not namespaced)',
  io_uring_setup: 'io_uring (large attack surface; libuv falls back to its thread pool)',
  io_uring_enter: 'io_uring',
  io_uring_register: 'io_uring',
  open_by_handle_at: 'open files by handle, bypassing the mount namespace',
  name_to_handle_at: 'file handles',
  fanotify_init: 'filesystem-wide notifications',
  lookup_dcookie: 'kernel profiling',
  vhangup: 'hang up terminals',
  nfsservctl: 'obsolete',
  // x86 only: raw hardware port access and obsolete calls.
  iopl: 'I/O port access',
  ioperm: 'I/O port access',
  uselib: 'obsolete',
  ustat: 'obsolete',
  sysfs: 'obsolete',
  _sysctl: 'obsolete',
  create_module: 'obsolete',
  get_kernel_syms: 'obsolete',
  query_module: 'obsolete',
} as const;

export type BlockedSyscall = keyof typeof BLOCKED_SYSCALLS;

/** Syscall numbers per architecture (from <asm/unistd_64.h> and <asm-generic/unistd.h>); absent: no such call. */
const SYSCALL_NUMBERS: Record<SeccompArch, Partial<Record<BlockedSyscall | 'clone' | 'clone3', number>>> = {
  x86_64: {
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    pidfd_getfd: 438,
    kcmp: 312,
    unshare: 272,
    setns: 308,
    mount: 165,
    umount2: 166,
    pivot_root: 155,
    chroot: 161,
    open_tree: 428,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    kexec_load: 246,
    kexec_file_load: 320,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    reboot: 169,
    swapon: 167,
    swapoff: 168,
    syslog: 103,
    acct: 163,
    quotactl: 179,
    quotactl_fd: 443,
    settimeofday: 164,
    clock_settime: 227,
    clock_adjtime: 305,
    adjtimex: 159,
    bpf: 321,
    perf_event_open: 298,
    userfaultfd: 323,
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    open_by_handle_at: 304,
    name_to_handle_at: 303,
    fanotify_init: 300,
    lookup_dcookie: 212,
    vhangup: 153,
    nfsservctl: 180,
    iopl: 172,
    ioperm: 173,
    uselib: 134,
    ustat: 136,
    sysfs: 139,
    _sysctl: 156,
    create_module: 174,
    get_kernel_syms: 177,
    query_module: 178,
    clone: 56,
    clone3: 435,
  },
  aarch64: {
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    pidfd_getfd: 438,
    kcmp: 272,
    unshare: 97,
    setns: 268,
    mount: 40,
    umount2: 39,
    pivot_root: 41,
    chroot: 51,
    open_tree: 428,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    kexec_load: 104,
    kexec_file_load: 294,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    reboot: 142,
    swapon: 224,
    swapoff: 225,
    syslog: 116,
    acct: 89,
    quotactl: 60,
    quotactl_fd: 443,
    settimeofday: 170,
    clock_settime: 112,
    clock_adjtime: 266,
    adjtimex: 171,
    bpf: 280,
    perf_event_open: 241,
    userfaultfd: 282,
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    open_by_handle_at: 265,
    name_to_handle_at: 264,
    fanotify_init: 262,
    lookup_dcookie: 18,
    vhangup: 58,
    nfsservctl: 42,
    clone: 220,
    clone3: 435,
  },
};

/** AUDIT_ARCH_* values that seccomp_data.arch carries. */
const AUDIT_ARCH: Record<SeccompArch, number> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };

/** clone() flags that create namespaces: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** x32 syscalls carry this bit on x86_64; the filter refuses the whole x32 ABI. */
const X32_SYSCALL_BIT = 0x40000000;

const EPERM = 1;
const ENOSYS = 38;

// Classic BPF opcodes used by seccomp programs.
const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;

// Offsets in struct seccomp_data (little-endian on both architectures).
const DATA_NR = 0;
const DATA_ARCH = 4;
const DATA_ARG0_LOW = 16;

type Label = 'allow' | 'deny' | 'enosys' | 'kill' | 'next';
type Insn =
  | { code: number; k: number; jt?: Label; jf?: Label }
  | { label: Exclude<Label, 'next'>; code: number; k: number };

/**
 * The filter as the bytes of a `struct sock_fprog` body (8 bytes per instruction), ready for
 * `bwrap --seccomp FD`. Non-native architectures (i386 via int 0x80 on x86_64, arm32 on aarch64)
 * kill the process; clone3 answers ENOSYS so libc falls back to clone, whose namespace flags are checked.
 */
export function seccompProgram(arch: SeccompArch): Buffer {
  const numbers = SYSCALL_NUMBERS[arch];
  const program: Insn[] = [
    { code: LD_W_ABS, k: DATA_ARCH },
    { code: JEQ_K, k: AUDIT_ARCH[arch], jt: 'next', jf: 'kill' },
    { code: LD_W_ABS, k: DATA_NR },
  ];
  if (arch === 'x86_64') program.push({ code: JGE_K, k: X32_SYSCALL_BIT, jt: 'deny', jf: 'next' });
  for (const name of Object.keys(BLOCKED_SYSCALLS) as BlockedSyscall[]) {
    const nr = numbers[name];
    if (nr !== undefined) program.push({ code: JEQ_K, k: nr, jt: 'deny', jf: 'next' });
  }
  program.push(
    { code: JEQ_K, k: numbers.clone3!, jt: 'enosys', jf: 'next' },
    { code: JEQ_K, k: numbers.clone!, jt: 'next', jf: 'allow' },
    { code: LD_W_ABS, k: DATA_ARG0_LOW },
    { code: JSET_K, k: CLONE_NAMESPACE_FLAGS, jt: 'deny', jf: 'allow' },
    { label: 'allow', code: RET_K, k: SECCOMP_RET_ALLOW },
    { label: 'deny', code: RET_K, k: SECCOMP_RET_ERRNO | EPERM },
    { label: 'enosys', code: RET_K, k: SECCOMP_RET_ERRNO | ENOSYS },
    { label: 'kill', code: RET_K, k: SECCOMP_RET_KILL_PROCESS },
  );
  return assemble(program);
}

/** Resolves labels to relative jump offsets (classic BPF jumps only forward, at most 255). */
function assemble(program: Insn[]): Buffer {
  const at = new Map<Label, number>();
  program.forEach((insn, i) => {
    if ('label' in insn) at.set(insn.label, i);
  });
  const offset = (from: number, label: Label | undefined): number => {
    if (label === undefined || label === 'next') return 0;
    const to = at.get(label)!;
    const jump = to - from - 1;
    if (jump < 0 || jump > 255) throw new Error(`seccomp: jump to ${label} out of range`);
    return jump;
  };
  const out = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8('label' in insn ? 0 : offset(i, insn.jt), i * 8 + 2);
    out.writeUInt8('label' in insn ? 0 : offset(i, insn.jf), i * 8 + 3);
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return out;
}

/**
 * Writes the compiled filter to `<dir>/seccomp-<arch>.bpf` (once at start, in the platform's private
 * run dir) and returns its path; the launch wrapper opens it as the fd bwrap reads.
 */
export function writeSeccompFilter(dir: string, arch: SeccompArch): string {
  const path = join(dir, `seccomp-${arch}.bpf`);
  writeFileSync(path, seccompProgram(arch), { mode: 0o644 });
  return path;
}
