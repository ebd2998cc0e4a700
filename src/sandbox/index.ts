// The sandbox's public surface: detection, the launch wrapper, cgroups, seccomp.

export type { BwrapOptions } from './bwrap.js';
export {
  bwrapArgs,
  ETC_BINDS,
  PROC_MASKABLE,
  PROC_READ_ONLY,
  SANDBOX_BUNDLE_DIR,
  SANDBOX_HOSTNAME,
  SANDBOX_SOCKET_PATH,
} from './bwrap.js';
export type {
  CgroupController,
  CgroupFs,
  CgroupHandle,
  CgroupManagerOptions,
  CgroupSupport,
  SandboxLimits,
} from './cgroups.js';
export { CGROUP_CONTROLLERS, CgroupManager, nodeCgroupFs } from './cgroups.js';
export type { BwrapSupport, DetectDeps, DetectOptions, RootEntry, SandboxFeatures } from './detect.js';
export { defaultDetectDeps, describeSandbox, detectSandbox } from './detect.js';
export type { PlainLaunch, SandboxLaunchOptions, WrappedLaunch } from './launch.js';
export { resolveCommand, SECCOMP_FD, shellQuote, wrapLaunch } from './launch.js';
export type { RlimitPlan } from './rlimits.js';
export { planRlimits, prlimitArgs } from './rlimits.js';
export type { RunAsChoice, RunAsUser } from './run-as.js';
export { NOBODY, resolveRunAs, unreachableBy } from './run-as.js';
export type { SeccompArch } from './seccomp.js';
export { BLOCKED_SYSCALLS, seccompArchOf, seccompProgram, writeSeccompFilter } from './seccomp.js';
export type { StageOptions } from './stage.js';
export { stageBundle } from './stage.js';
