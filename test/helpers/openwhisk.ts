// Test helper for the OpenWhisk API: keys made with the real `nimbus keys create`, the real `openwhisk`
// client (loosely typed: its bundled types miss options it accepts), zips, and the errors it throws.
import { execFile } from 'node:child_process';
import { strToU8, zipSync } from 'fflate';
import openwhisk from 'openwhisk';

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;

export interface Key {
  id: string;
  secret: string;
}

/** `nimbus keys create … --json` as a user runs it; the client's api_key is `id:secret`. */
export function keysCreate(url: string, token: string, args: string[]): Promise<Key> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, 'keys', 'create', ...args, '--json', '--url', url, '--token', token],
      { env: { PATH: process.env.PATH }, timeout: 30_000 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as Key)),
    );
  });
}

/** The openwhisk client for a Nimbus at `url`, with `key` as its api_key. */
export function owClient(url: string, key: Key): any {
  return openwhisk({ apihost: url, api_key: `${key.id}:${key.secret}` });
}

/** `Authorization: Basic base64(id:secret)`, as the client sends it. */
export function basic(key: Key): string {
  return `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
}

export function zip(files: Record<string, string>): Buffer {
  const entries: Record<string, Uint8Array> = {};
  for (const [name, text] of Object.entries(files)) entries[name] = strToU8(text);
  return Buffer.from(zipSync(entries));
}

/** What the client throws for an HTTP error: its message, status and the body it got. */
export interface OwError extends Error {
  statusCode: number;
  error: any;
}

export async function owError(promise: Promise<unknown>): Promise<OwError> {
  try {
    await promise;
  } catch (err) {
    return err as OwError;
  }
  throw new Error('expected the call to fail');
}
