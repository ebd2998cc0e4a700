// A function's secrets as files in each of its instances: a per-instance directory, bound read-only at
// /var/openfaas/secrets in the sandbox (where OpenFaaS functions read them) and named by NIMBUS_SECRETS_DIR.
// Written just before the function loads (a stem cell's sandbox binds the empty directory when it starts),
// mode 0400 in a 0700 directory (0500 and owned by the sandbox's user under runAs), removed with the
// instance's directory when it ends.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunAsUser } from '../sandbox/run-as.js';
import type { LoadMessage } from './protocol.js';

/** Where a sandboxed instance sees its secrets (OpenFaaS's path). */
export const SANDBOX_SECRETS_DIR = '/var/openfaas/secrets';

/** The host directory of an instance's secrets. */
export function secretsDirOf(instanceDir: string): string {
  return join(instanceDir, 'secrets');
}

/** Creates an instance's (empty) secrets directory, for its sandbox to bind before anyone knows its function. */
export function prepareSecretsDir(instanceDir: string, runAs: RunAsUser | null): string {
  const dir = secretsDirOf(instanceDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (runAs) {
    chownSync(dir, runAs.uid, runAs.gid);
    chmodSync(dir, 0o500);
  }
  return dir;
}

/**
 * Writes the secret files of an instance and returns its LOAD message with NIMBUS_SECRETS_DIR set to
 * `where.seenAt`: the directory as the runner sees it (SANDBOX_SECRETS_DIR in a bubblewrap sandbox, the host
 * directory otherwise). Names were checked at deploy (SECRET_NAME_RE: no `/`, no leading dot).
 */
export function mountSecrets(
  instanceDir: string,
  load: LoadMessage,
  values: ReadonlyMap<string, Buffer> | undefined,
  where: { seenAt: string; runAs: RunAsUser | null },
): LoadMessage {
  if (!values || values.size === 0) return load;
  const dir = secretsDirOf(instanceDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, value] of values) {
    const file = join(dir, name);
    writeFileSync(file, value, { mode: 0o400, flag: 'wx' });
    if (where.runAs) chownSync(file, where.runAs.uid, where.runAs.gid);
  }
  return { ...load, env: { ...load.env, NIMBUS_SECRETS_DIR: where.seenAt } };
}
