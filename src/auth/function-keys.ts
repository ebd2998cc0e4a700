// Each function's own credential: an invoke key Nimbus makes for it (owner `fn:<name>`, kept across versions,
// revoked with the function), handed to its instances so code written for Lambda or OpenWhisk can call other
// functions through the platform's APIs. It may invoke the functions of its namespace, nothing else. In a
// cluster the key store is shared: every node hands a function's instances the same key.
import { splitFunctionId } from '../config/namespace.js';
import type { KeyStore } from './keys.js';

export const functionKeyOwner = (fn: string): string => `fn:${fn}`;

/** The function's key (made on first use); its secret is unsealed for the instance's environment. */
export function functionKey(keys: KeyStore, fn: string): { id: string; secret: string } {
  const owner = functionKeyOwner(fn);
  // Two nodes may each make one for a new function at the same moment: both are valid, the oldest is used.
  const existing = keys.ownedBy(owner).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  for (const key of existing) {
    const secret = keys.secret(key.id);
    if (secret !== undefined) return { id: key.id, secret };
  }
  // Its namespace is the function's: it reaches the functions beside it, no others.
  const namespace = splitFunctionId(fn).namespace;
  const made = keys.create({ scope: 'invoke', functions: '*', namespace, owner });
  return { id: made.id, secret: made.secret };
}

/**
 * Revokes the keys Nimbus made for a function (when it is removed). `createdBefore` (epoch ms): only keys
 * older than that, so a node that learns late of a removal cannot revoke the key of a function deployed
 * again under the same name meanwhile.
 */
export function revokeFunctionKeys(
  keys: KeyStore,
  fn: string,
  createdBefore = Number.POSITIVE_INFINITY,
): void {
  for (const key of keys.ownedBy(functionKeyOwner(fn)))
    if (key.createdAt < createdBefore) keys.remove(key.id);
}
