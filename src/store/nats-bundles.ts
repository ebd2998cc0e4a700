// Bundles shared through a JetStream Object Store bucket: a node that stores a bundle publishes it (a
// gzipped tar named by its sha256); a node that needs one it lacks fetches it once, and the local store
// checks that it hashes to its name before anything runs it.
import { Readable } from 'node:stream';
import { StorageType } from '@nats-io/jetstream';
import { type ObjectStore, Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { NimbusError } from '../errors.js';
import { type Artifacts, packBundle } from './artifacts.js';

export const BUNDLE_BUCKET = 'nimbus-bundles';

export interface NatsBundlesOptions {
  nc: NatsConnection;
  artifacts: Artifacts;
  replicas?: number;
}

export class NatsBundles {
  readonly #os: ObjectStore;
  readonly #artifacts: Artifacts;
  readonly #fetching = new Map<string, Promise<void>>();
  readonly #published = new Set<string>();

  private constructor(os: ObjectStore, artifacts: Artifacts) {
    this.#os = os;
    this.#artifacts = artifacts;
  }

  static async open(options: NatsBundlesOptions): Promise<NatsBundles> {
    const os = await new Objm(options.nc).create(BUNDLE_BUCKET, {
      storage: StorageType.File,
      replicas: options.replicas ?? 1,
    });
    return new NatsBundles(os, options.artifacts);
  }

  /** Puts a local bundle in the bucket (unless it is there); resolves once JetStream holds all of it. */
  async publish(hash: string): Promise<void> {
    if (this.#published.has(hash)) return;
    const existing = await this.#os.info(hash);
    if (!existing || existing.deleted) {
      const chunks: Buffer[] = [];
      for await (const chunk of packBundle(this.#artifacts.path(hash))) chunks.push(chunk as Buffer);
      await this.#os.putBlob({ name: hash }, Buffer.concat(chunks));
    }
    this.#published.add(hash);
  }

  /** Makes sure the bundle is in the local store, fetching it from the bucket (once) when not. */
  ensureLocal(hash: string): Promise<void> {
    if (this.#artifacts.has(hash)) return Promise.resolve();
    let fetching = this.#fetching.get(hash);
    if (!fetching) {
      fetching = (async () => {
        const data = await this.#os.getBlob(hash);
        if (!data) throw new NimbusError('ERR_BUNDLE_NOT_FOUND', [hash.slice(0, 80)]);
        // putArchive extracts to a temp dir and refuses content that does not hash to `hash`.
        await this.#artifacts.putArchive(
          hash,
          Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
        );
        this.#published.add(hash);
      })().finally(() => this.#fetching.delete(hash));
      this.#fetching.set(hash, fetching);
    }
    return fetching;
  }
}
