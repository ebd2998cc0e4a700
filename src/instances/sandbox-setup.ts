// Sets up instance isolation once at start: detects what the host allows, applies `sandbox` and
// `sandboxRunAs` from the config, and says in one line what is in force.

import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, join } from 'node:path';
import { NimbusError } from '../errors.js';
import { SANDBOX_GATEWAY_PORT } from '../sandbox/bwrap.js';
import { CgroupManager } from '../sandbox/cgroups.js';
import { describeSandbox, detectSandbox, type SandboxFeatures } from '../sandbox/detect.js';
import { writeResolvConf } from '../sandbox/egress.js';
import { type RunAsUser, resolveRunAs, unreachableBy } from '../sandbox/run-as.js';
import { writeSeccompFilter } from '../sandbox/seccomp.js';
import { InstanceSandbox } from './instance-sandbox.js';

/** The gateway's Unix socket in the run directory (see SandboxSetup.gatewaySocketPath). */
export const GATEWAY_SOCKET_NAME = 'gateway.sock';

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

/**
 * What keeps instances apart from the platform and from each other:
 * - `bubblewrap`: namespaces (a network namespace per instance), seccomp, cgroups where the host allows;
 * - `user`: no bubblewrap, but a root platform runs instances as an unprivileged host user (setpriv),
 *   which cannot read the data dir; they share the host's network;
 * - `none`: neither is possible; instances do not start (they could read the admin token);
 * - `off`: `sandbox: off` was asked for: plain processes as the platform's own user.
 */
export type Isolation = 'bubblewrap' | 'user' | 'none' | 'off';

export interface SandboxSetup {
  /** The per-instance sandbox, or null when instances run as plain processes (`sandbox: off`). */
  sandbox: InstanceSandbox | null;
  /** What is in force, for `nimbus up` (one line). */
  summary: string;
  features: SandboxFeatures | null;
  runAs: RunAsUser | null;
  isolation: Isolation;
  /**
   * Where the gateway must also listen (a Unix socket in the run directory) before any instance starts:
   * sandboxes with a network namespace of their own reach the gateway only through it. Null otherwise.
   */
  gatewaySocketPath: string | null;
}

/** Never leaves anything behind on failure: the cgroup subtree is created last. */
export async function setUpSandbox(options: SandboxSetupOptions): Promise<SandboxSetup> {
  if (options.mode === 'off') {
    return {
      sandbox: null,
      summary:
        'isolation: off (sandbox: off in the config): plain processes as the platform’s own user, which can read its data dir and admin token, limits: V8 heap only',
      features: null,
      runAs: null,
      isolation: 'off',
      gatewaySocketPath: null,
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
    // Only the sandbox's user (by its group) gets through the run directory, to its own socket and /fn;
    // it may list nothing, and no other host user gets in.
    chownSync(options.runDir, features.uid, runAs.gid);
    chmodSync(options.runDir, 0o710);
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
  const isolation: Isolation = features.bwrap ? 'bubblewrap' : runAs ? 'user' : 'none';

  let cgroups: CgroupManager | null = null;
  let cgroupProblem: string | null = null;
  if (features.cgroup.version !== null && isolation !== 'none') {
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
  const resolvConf =
    features.bwrap && features.egress ? writeResolvConf(options.runDir, readText('/etc/resolv.conf')) : null;

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
  let refusal: string | null = null;
  if (isolation === 'none') {
    refusal = `${features.bwrapProblem ?? 'no bubblewrap'}, and ${
      features.uid === 0 ? (note ?? 'sandboxRunAs is off') : 'Nimbus does not run as root'
    }, so nothing would keep a function from the data dir and the admin token`;
    summary += `; instances will not start: ${refusal} (install bubblewrap, or start with --sandbox off to run them unsandboxed)`;
  } else if (isolation === 'user' && note === null && features.bwrapProblem) {
    summary += `; install bubblewrap for namespaces (${features.bwrapProblem})`;
  }
  const gatewaySocketPath = features.bwrap ? join(options.runDir, GATEWAY_SOCKET_NAME) : null;
  const sandbox = new InstanceSandbox({
    runDir: options.runDir,
    gatewaySocketPath,
    features,
    cgroups,
    seccompFilterPath,
    runAs,
    resolvConf,
    refusal,
  });
  return { sandbox, summary, features, runAs, isolation, gatewaySocketPath };
}

/**
 * Where nothing isolates instances, the gateway listens on a loopback address only (such a host is a
 * developer's machine, not a server). `sandbox: off`, said on purpose, is the way past it (and the only
 * way functions run there at all). Throws ERR_SANDBOX_PUBLIC_UNISOLATED.
 */
export function checkListenAddress(setup: Pick<SandboxSetup, 'isolation' | 'summary'>, host: string): void {
  if (setup.isolation !== 'none' || isLoopback(host)) return;
  throw new NimbusError('ERR_SANDBOX_PUBLIC_UNISOLATED', [host]);
}

/**
 * The gateway's URL as an instance reaches it. Without namespaces, on the host's loopback (a wildcard
 * listen address included). Under bubblewrap an instance has a network namespace of its own, whose
 * loopback is its own: its runner forwards SANDBOX_GATEWAY_PORT there to the gateway's Unix socket bound
 * into the sandbox, so the gateway is in reach whatever address it listens on, and nothing else on the
 * host's loopback is.
 */
export function gatewayUrlForInstances(url: string, isolation: Isolation): string {
  if (isolation === 'bubblewrap') return `http://127.0.0.1:${SANDBOX_GATEWAY_PORT}`;
  const wildcard = /^http:\/\/(0\.0\.0\.0|\[::\])(:\d+)/.exec(url);
  if (!wildcard) return url;
  return url.replace(wildcard[0], `http://${wildcard[1] === '[::]' ? '[::1]' : '127.0.0.1'}${wildcard[2]}`);
}

/** 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
