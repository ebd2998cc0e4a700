// Sets up instance isolation once at start: detects what the host allows, applies `sandbox` and
// `sandboxRunAs` from the config, and says in one line what is in force.

import { chmodSync } from 'node:fs';
import { basename } from 'node:path';
import { NimbusError } from '../errors.js';
import { CgroupManager } from '../sandbox/cgroups.js';
import { describeSandbox, detectSandbox, type SandboxFeatures } from '../sandbox/detect.js';
import { type RunAsUser, resolveRunAs, unreachableBy } from '../sandbox/run-as.js';
import { writeSeccompFilter } from '../sandbox/seccomp.js';
import { InstanceSandbox } from './instance-sandbox.js';

export interface SandboxSetupOptions {
  mode: 'auto' | 'required' | 'off';
  /** `auto`, `off`, `uid` or `uid:gid`. */
  runAs: string;
  cgroupParent?: string | undefined;
  /** The platform's run directory (private, made by the caller); the seccomp filter is written there. */
  runDir: string;
  /** Files every instance needs (the node binary, the default runner), checked against `runAs`. */
  requiredPaths: readonly string[];
  /** For tests: the features to use instead of detecting them. */
  features?: SandboxFeatures;
}

export interface SandboxSetup {
  /** The per-instance sandbox, or null when instances run as plain processes (`sandbox: off`). */
  sandbox: InstanceSandbox | null;
  /** What is in force, for `nimbus up` (one line). */
  summary: string;
  features: SandboxFeatures | null;
  runAs: RunAsUser | null;
}

/** Never leaves anything behind on failure: the cgroup subtree is created last. */
export async function setUpSandbox(options: SandboxSetupOptions): Promise<SandboxSetup> {
  if (options.mode === 'off') {
    return {
      sandbox: null,
      summary: 'isolation: off (sandbox: off in the config), limits: V8 heap only',
      features: null,
      runAs: null,
    };
  }
  const features =
    options.features ??
    (await detectSandbox(options.cgroupParent ? { cgroupParent: options.cgroupParent } : {}));
  if (!features.bwrap && options.mode === 'required')
    throw new NimbusError('ERR_SANDBOX_UNAVAILABLE', [features.bwrapProblem ?? 'no bubblewrap']);

  let choice: ReturnType<typeof resolveRunAs>;
  try {
    choice = resolveRunAs(options.runAs, features);
  } catch (err) {
    throw new NimbusError('ERR_CONFIG_INVALID', [(err as Error).message]);
  }
  let { runAs, note } = choice;
  if (runAs) {
    // The sandbox's user must get through the run directory to its own socket and /fn (never list it).
    chmodSync(options.runDir, 0o711);
    for (const path of [options.runDir, ...options.requiredPaths]) {
      const blocked = unreachableBy(path, runAs, path === options.runDir ? 'search' : 'read');
      if (blocked === null) continue;
      const why = `${path} is not reachable by uid ${runAs.uid} (${blocked} does not let it through)`;
      if (options.runAs !== 'auto') throw new NimbusError('ERR_CONFIG_INVALID', [`sandboxRunAs: ${why}`]);
      runAs = null;
      note = why;
      chmodSync(options.runDir, 0o700);
      break;
    }
  }

  let cgroups: CgroupManager | null = null;
  let cgroupProblem: string | null = null;
  if (features.cgroup.version !== null) {
    // mkdtemp's suffix tells apart several platforms in one process.
    const tag = basename(options.runDir)
      .replace(/^nimbus-/, '')
      .replace(/[^A-Za-z0-9_]/g, '_')
      .slice(-32);
    cgroups = new CgroupManager(features.cgroup, { tag });
    try {
      cgroups.start();
    } catch (err) {
      cgroups = null;
      cgroupProblem = (err as Error).message;
    }
  }
  const seccompFilterPath =
    features.bwrap && features.seccomp ? writeSeccompFilter(options.runDir, features.seccomp) : null;

  let summary = describeSandbox(
    cgroupProblem === null
      ? features
      : { ...features, cgroup: { version: null, reason: `cgroups failed at start: ${cgroupProblem}` } },
    { runAs: runAs !== null },
  );
  if (features.bwrap && features.uid === 0 && !runAs) {
    summary += note
      ? `; instances keep the platform's root user outside their namespaces: ${note}`
      : '; instances keep the platform root user outside their namespaces (sandboxRunAs: off)';
  }
  const sandbox = new InstanceSandbox({
    runDir: options.runDir,
    features,
    cgroups,
    seccompFilterPath,
    runAs,
  });
  return { sandbox, summary, features, runAs };
}
