// The admin token: generated at first start into the data dir (mode 0600) unless configured, compared in
// constant time; presented as a bearer token or as Basic auth's password (user `admin`, as OpenFaaS has it).
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

/** The user name of Basic auth (as OpenFaaS's gateway has it); the password is the admin token. */
export const BASIC_AUTH_USER = 'admin';

/**
 * Token checks against one token: `Authorization: Bearer <token>`, or Basic auth with user `admin` and the
 * token as password (what faas-cli sends after `faas-cli login`).
 */
export function tokenChecker(token: string): {
  hasToken: (req: IncomingMessage) => boolean;
  isAdmin: (req: IncomingMessage) => boolean;
} {
  const expected = digest(token);
  const presented = (req: IncomingMessage): string | undefined => {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m) return m[1]!.trim();
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!basic) return undefined;
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // Another user name is a wrong credential (never equal to a digest of the token).
    return colon !== -1 && decoded.slice(0, colon) === BASIC_AUTH_USER ? decoded.slice(colon + 1) : '';
  };
  return {
    hasToken: (req) => presented(req) !== undefined,
    isAdmin: (req) => {
      const value = presented(req);
      return value !== undefined && timingSafeEqual(digest(value), expected);
    },
  };
}
