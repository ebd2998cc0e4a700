// Content-addressed bundles on disk: data/bundles/<sha256>/, written once through a temp dir and a rename.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { BUNDLE_HASH_RE, hashBundleDir, listBundleFiles } from '../build/bundle-hash.js';
import { NimbusError } from '../errors.js';

export interface ArtifactsOptions {
  /** After an uploaded bundle is stored (cluster mode: publishes it for the other nodes); awaited. */
  onStored?: (hash: string) => Promise<void>;
}

export class Artifacts {
  readonly dir: string;
  readonly #onStored: ((hash: string) => Promise<void>) | undefined;

  constructor(dataDir: string, options: ArtifactsOptions = {}) {
    this.dir = join(dataDir, 'bundles');
    this.#onStored = options.onStored;
    mkdirSync(this.dir, { recursive: true });
  }

  path(hash: string): string {
    if (!BUNDLE_HASH_RE.test(hash)) throw new NimbusError('ERR_BUNDLE_NOT_FOUND', [hash.slice(0, 80)]);
    return join(this.dir, hash);
  }

  has(hash: string): boolean {
    return BUNDLE_HASH_RE.test(hash) && existsSync(join(this.dir, hash));
  }

  /** A fresh empty directory inside the store, to build a bundle in (then `putDirectory`). */
  tempDir(): string {
    return mkdtempSync(join(this.dir, '.build-'));
  }

  /**
   * Moves a directory made with `tempDir` into the store under its content hash (the directory is gone
   * afterwards either way). Returns the hash and whether the bundle is new.
   */
  putDirectory(tmp: string): { hash: string; created: boolean } {
    try {
      if (listBundleFiles(tmp).length === 0)
        throw new NimbusError('ERR_BUNDLE_INVALID', ['it holds no files']);
      const hash = hashBundleDir(tmp);
      if (this.has(hash)) return { hash, created: false };
      renameSync(tmp, join(this.dir, hash));
      return { hash, created: true };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Extracts a gzipped tar into the store and checks it hashes to `expected`. Returns true when new. */
  async putArchive(expected: string, archive: Readable): Promise<boolean> {
    const created = await this.#extract(expected, archive);
    await this.#onStored?.(expected);
    return created;
  }

  async #extract(expected: string, archive: Readable): Promise<boolean> {
    if (!BUNDLE_HASH_RE.test(expected))
      throw new NimbusError('ERR_BUNDLE_INVALID', [
        'the URL must name the bundle by its sha256 (64 hex digits)',
      ]);
    const tmp = mkdtempSync(join(this.dir, '.upload-'));
    try {
      try {
        await pipeline(archive, tar.x({ cwd: tmp, strict: true, preservePaths: false, noChmod: false }));
      } catch (err) {
        if (err instanceof NimbusError) throw err;
        throw new NimbusError(
          'ERR_BUNDLE_INVALID',
          [`not a gzipped tar archive (${(err as Error).message})`],
          { cause: err },
        );
      }
      if (listBundleFiles(tmp).length === 0)
        throw new NimbusError('ERR_BUNDLE_INVALID', ['the archive holds no files']);
      const actual = hashBundleDir(tmp);
      if (actual !== expected) throw new NimbusError('ERR_BUNDLE_HASH_MISMATCH', [actual, expected]);
      if (this.has(expected)) return false;
      renameSync(tmp, join(this.dir, expected));
      return true;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}

/** Packs a bundle directory as a gzipped tar stream (the upload format). */
export function packBundle(dir: string): Readable {
  return tar.c(
    { gzip: true, cwd: dir, portable: true, noMtime: true },
    listBundleFiles(dir),
  ) as unknown as Readable;
}
