// Every access key of a KeyStore held in memory, by id and by the hash of its secret: what authenticating a
// request reads (a hash and a map lookup), whichever storage the keys live in.
import { timingSafeEqual } from 'node:crypto';
import { hashSecret, type KeyRecord, type KeyView, type Principal, sealContext } from './keys.js';
import type { Sealer } from './master-key.js';

export class KeyIndex {
  readonly #sealer: Sealer;
  readonly #byId = new Map<string, KeyRecord>();
  readonly #byHash = new Map<string, KeyRecord>();

  constructor(sealer: Sealer) {
    this.#sealer = sealer;
  }

  /** Holds `record` (replacing the key of the same id). */
  hold(record: KeyRecord): void {
    this.drop(record.view.id);
    this.#byId.set(record.view.id, record);
    this.#byHash.set(record.secretHash.toString('hex'), record);
  }

  /** Forgets key `id`; false when it was not held. */
  drop(id: string): boolean {
    const held = this.#byId.get(id);
    if (!held) return false;
    this.#byId.delete(id);
    this.#byHash.delete(held.secretHash.toString('hex'));
    return true;
  }

  record(id: string): KeyRecord | undefined {
    return this.#byId.get(id);
  }

  bySecret(secret: string): Principal | undefined {
    return this.#byHash.get(hashSecret(secret).toString('hex'))?.view;
  }

  verify(id: string, secret: string): Principal | undefined {
    const held = this.#byId.get(id);
    if (!held) return undefined;
    return timingSafeEqual(held.secretHash, hashSecret(secret)) ? held.view : undefined;
  }

  get(id: string): KeyView | undefined {
    return this.#byId.get(id)?.view;
  }

  secret(id: string): string | undefined {
    const held = this.#byId.get(id);
    return held && this.#sealer.open(held.secretSealed, sealContext(id))?.toString('utf8');
  }

  list(): KeyView[] {
    return [...this.#byId.values()]
      .map((h) => h.view)
      .filter((v) => v.owner === undefined)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  ownedBy(owner: string): KeyView[] {
    return [...this.#byId.values()].map((h) => h.view).filter((v) => v.owner === owner);
  }
}
