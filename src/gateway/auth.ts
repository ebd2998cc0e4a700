// The admin token: generated at first start into the data dir (mode 0600) unless configured, compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';

export const TOKEN_FILE = 'admin-token';

/** Returns the token and whether it was generated now (so it is printed once). */
export function loadOrCreateToken(
  dataDir: string,
  configured: string | undefined,
): { token: string; created: boolean } {
  if (configured) return { token: configured, created: false };
  const path = join(dataDir, TOKEN_FILE);
  if (existsSync(path)) return { token: readFileSync(path, 'utf8').trim(), created: false };
  const token = `nmb_${randomBytes(24).toString('base64url')}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return { token, created: true };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Bearer-token checks against one token. */
export function tokenChecker(token: string): {
  hasToken: (req: IncomingMessage) => boolean;
  isAdmin: (req: IncomingMessage) => boolean;
} {
  const expected = digest(token);
  const presented = (req: IncomingMessage): string | undefined => {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(header);
    return m ? m[1]!.trim() : undefined;
  };
  return {
    hasToken: (req) => presented(req) !== undefined,
    isAdmin: (req) => {
      const value = presented(req);
      return value !== undefined && timingSafeEqual(digest(value), expected);
    },
  };
}
