// The platform's master key: 32 random bytes in the data dir (mode 0600) or given by configuration
// (`masterKey`, NIMBUS_MASTER_KEY; every node of a cluster needs the same one). Keys for each purpose
// (sealing access-key secrets, the secrets store) are derived from it, so one file guards them all.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../errors.js';

export const MASTER_KEY_FILE = 'master-key';
const KEY_BYTES = 32;

/** Reads (or creates) the master key; `configured` is base64 of 32 bytes. */
export function loadMasterKey(dataDir: string, configured: string | undefined): Buffer {
  if (configured !== undefined) return decodeKey(configured, 'masterKey');
  const path = join(dataDir, MASTER_KEY_FILE);
  if (existsSync(path)) return decodeKey(readFileSync(path, 'utf8').trim(), path);
  const key = randomBytes(KEY_BYTES);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return key;
}

function decodeKey(text: string, where: string): Buffer {
  const key = Buffer.from(text, 'base64');
  if (key.length !== KEY_BYTES || key.toString('base64') !== text)
    throw new NimbusError('ERR_CONFIG_INVALID', [
      `${where}: the master key must be ${KEY_BYTES} bytes in base64 (e.g. \`openssl rand -base64 32\`)`,
    ]);
  return key;
}

/** A key for one purpose (HKDF-SHA256): what leaks of one purpose's key says nothing of another's. */
export function deriveKey(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, 'nimbus', purpose, KEY_BYTES));
}

/** AES-256-GCM with a random 96-bit nonce; `context` is authenticated (a sealed value moved to another row fails to open). */
export class Sealer {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    this.#key = key;
  }

  /** nonce ‖ ciphertext ‖ tag. */
  seal(plain: Buffer, context: string): Buffer {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]);
  }

  /** The plain bytes, or undefined when the value was not sealed by this key for this context. */
  open(sealed: Buffer, context: string): Buffer | undefined {
    if (sealed.length < 28) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, sealed.subarray(0, 12));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
    } catch {
      return undefined;
    }
  }
}
