// Each function's own credential: an invoke key Nimbus makes for it (owner `fn:<name>`, kept across versions,
// revoked with the function), handed to its instances so code written for Lambda or OpenWhisk can call other
// functions through the platform's APIs. It may invoke the functions of its namespace, nothing else.
import { splitFunctionId } from '../config/namespace.js';
import type { KeyStore } from './keys.js';

export const functionKeyOwner = (fn: string): string => `fn:${fn}`;

/** The function's key (made on first use); its secret is unsealed for the instance's environment. */
export function functionKey(keys: KeyStore, fn: string): { id: string; secret: string } {
  const owner = functionKeyOwner(fn);
  const existing = keys.ownedBy(owner)[0];
  // Its namespace is the function's: it reaches the functions beside it, no others.
  const namespace = splitFunctionId(fn).namespace;
  const id = existing?.id ?? keys.create({ scope: 'invoke', functions: '*', namespace, owner }).id;
  const secret = keys.secret(id);
  if (secret === undefined) throw new Error(`the key of function ${fn} cannot be unsealed`);
  return { id, secret };
}

/** Revokes the keys Nimbus made for a function (when it is removed). */
export function revokeFunctionKeys(keys: KeyStore, fn: string): void {
  for (const key of keys.ownedBy(functionKeyOwner(fn))) keys.remove(key.id);
}
