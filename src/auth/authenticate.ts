// Who a request acts as, from its Authorization header: the admin token (Bearer, or Basic `admin:<token>`
// as faas-cli sends it) or an access key (its secret as Bearer or as Basic's password; Basic `<id>:<secret>`
// as the OpenWhisk client sends it). A header that carries a Nimbus credential, valid or not, is the
// gateway's to consume: it never reaches a function. A public function still gets an app's own header.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ADMIN_PRINCIPAL, KEY_ID_PREFIX, KEY_SECRET_PREFIX, type KeyStore, type Principal } from './keys.js';

/** The user name of Basic auth for the admin token (as OpenFaaS's gateway has it). */
export const BASIC_AUTH_USER = 'admin';
/** Prefix of generated admin tokens. */
export const ADMIN_TOKEN_PREFIX = 'nmb_';

export interface Credential {
  /** Who the request acts as; undefined when the credential is not valid (or not Nimbus's). */
  principal: Principal | undefined;
  /** The header is a Nimbus credential (valid or not): the gateway consumes it. */
  nimbus: boolean;
}

const NONE: Credential = Object.freeze({ principal: undefined, nimbus: false });
const INVALID: Credential = Object.freeze({ principal: undefined, nimbus: true });

export class Authenticator {
  readonly #tokenDigest: Buffer;
  readonly #keys: KeyStore;

  constructor(adminToken: string, keys: KeyStore) {
    this.#tokenDigest = digest(adminToken);
    this.#keys = keys;
  }

  /**
   * What the request's Authorization header proves; undefined when it has none. Several Authorization headers
   * (HTTP allows one) prove nothing and are all consumed: node:http keeps only the first, so a Nimbus
   * credential in a later one would otherwise pass unseen to a function.
   */
  identify(req: IncomingMessage): Credential | undefined {
    const header = req.headers.authorization;
    if (header === undefined) return undefined;
    if (repeatsAuthorization(req.rawHeaders)) return INVALID;
    const m = SCHEME_RE.exec(header);
    const scheme = m?.[1] ?? header;
    const value = m?.[2]?.trim() ?? '';
    const credential = /^bearer$/i.test(scheme)
      ? this.#bearer(value)
      : /^basic$/i.test(scheme)
        ? this.#basic(value)
        : NONE;
    // A Nimbus secret under another scheme, or none ("Token nmb_…", the bare secret) is consumed all the same.
    return credential === NONE && NIMBUS_SECRET_RE.test(header) ? INVALID : credential;
  }

  /** The principal of a request, or undefined without a valid Nimbus credential. */
  principal(req: IncomingMessage): Principal | undefined {
    return this.identify(req)?.principal;
  }

  /** Who a bare secret (the admin token or a key's secret) acts as, as Azure's `x-functions-key` carries one. */
  principalOfSecret(secret: string): Principal | undefined {
    return this.#secret(secret);
  }

  #bearer(token: string): Credential {
    const principal = this.#secret(token);
    if (principal) return { principal, nimbus: true };
    return token.startsWith(KEY_SECRET_PREFIX) || token.startsWith(ADMIN_TOKEN_PREFIX) ? INVALID : NONE;
  }

  #basic(encoded: string): Credential {
    // Either base64 alphabet: Buffer reads both.
    if (!/^[A-Za-z0-9+/=_-]+$/.test(encoded)) return NONE;
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return NIMBUS_SECRET_RE.test(decoded) ? INVALID : NONE;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (user === BASIC_AUTH_USER) {
      const principal = this.#secret(password);
      return principal ? { principal, nimbus: true } : INVALID;
    }
    if (user.startsWith(KEY_ID_PREFIX)) {
      const principal = this.#keys.verify(user, password);
      return principal ? { principal, nimbus: true } : INVALID;
    }
    // An app's own Basic credentials pass; a Nimbus secret under another user name is consumed, not valid.
    return this.#secret(password) || NIMBUS_SECRET_RE.test(password) ? INVALID : NONE;
  }

  /** The admin token or a key's secret. */
  #secret(secret: string): Principal | undefined {
    if (secret === '') return undefined;
    if (timingSafeEqual(digest(secret), this.#tokenDigest)) return ADMIN_PRINCIPAL;
    return this.#keys.bySecret(secret);
  }
}

/** `scheme` and the rest, split at the first run of whitespace (a tab separates them as well as a space). */
const SCHEME_RE = /^(\S+)\s+([\s\S]*)$/;

/** A Nimbus secret (a key's or a generated admin token) standing as a token of its own in a header's text. */
const NIMBUS_SECRET_RE = new RegExp(
  `(?:^|[\\s,:="'])(?:${KEY_SECRET_PREFIX}|${ADMIN_TOKEN_PREFIX})[A-Za-z0-9_-]{16,}`,
);

const NIMBUS_SECRETS_RE = new RegExp(`(?:${KEY_SECRET_PREFIX}|${ADMIN_TOKEN_PREFIX})[A-Za-z0-9_-]{16,}`, 'g');

/** `text` (a request target for a log line) with every Nimbus secret in it replaced by `<secret>`. */
export function redactSecrets(text: string): string {
  return text.includes(KEY_SECRET_PREFIX.slice(0, 3)) ? text.replace(NIMBUS_SECRETS_RE, '<secret>') : text;
}

/** Whether the raw header list holds more than one Authorization header. */
function repeatsAuthorization(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 13 || name.toLowerCase() !== 'authorization') continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** What a control route needs: `read` (ls, describe, logs, metrics) ⊂ `deploy` (deploy, rm, secrets, scale) ⊂ `admin`. */
export type Access = 'read' | 'deploy' | 'admin';

const RANK: Record<Principal['scope'], number> = { invoke: 0, read: 1, deploy: 2, admin: 3 };
const NEEDED: Record<Access, number> = { read: 1, deploy: 2, admin: 3 };

/**
 * Whether `principal` may do what `access` names in `namespace` (and, when given, to `fn`). Namespace `*`
 * asks for every namespace: only credentials of no one namespace reach it.
 */
export function allows(principal: Principal, access: Access, namespace = 'default', fn?: string): boolean {
  if (RANK[principal.scope] < NEEDED[access]) return false;
  return inReach(principal, namespace, fn);
}

/** Whether `principal` may invoke `fn` (any scope but `read` may, within its reach). */
export function mayInvoke(principal: Principal, fn: string, namespace = 'default'): boolean {
  return principal.scope !== 'read' && inReach(principal, namespace, fn);
}

function inReach(principal: Principal, namespace: string, fn: string | undefined): boolean {
  if (principal.namespace !== '*' && principal.namespace !== namespace) return false;
  return fn === undefined || principal.functions === '*' || principal.functions.includes(fn);
}
