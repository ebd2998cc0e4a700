// The admin token: generated at first start into the data dir (mode 0600) unless configured.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN_PREFIX } from './authenticate.js';

export const TOKEN_FILE = 'admin-token';

/** Returns the token and whether it was generated now (so it is printed once). */
export function loadOrCreateToken(
  dataDir: string,
  configured: string | undefined,
): { token: string; created: boolean } {
  if (configured) return { token: configured, created: false };
  const path = join(dataDir, TOKEN_FILE);
  if (existsSync(path)) return { token: readFileSync(path, 'utf8').trim(), created: false };
  const token = `${ADMIN_TOKEN_PREFIX}${randomBytes(24).toString('base64url')}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return { token, created: true };
}
