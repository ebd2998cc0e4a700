// Content-addressed bundles on disk: data/bundles/<sha256>/, written once through a temp dir and a rename.
// The store is private to the platform's user (0700); what arrives is bounded in size and made plain.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import {
  BUNDLE_HASH_RE,
  bundleBytes,
  hashBundleDir,
  listBundleFiles,
  normalizeBundleDir,
} from '../build/bundle-hash.js';
import { NimbusError } from '../errors.js';

/** Lambda's own limit on a function's unzipped code, and Nimbus's default for any bundle. */
export const DEFAULT_BUNDLE_MAX_UNPACKED_BYTES = 250 * 1024 * 1024;
/**
 * Entries of one archive at most (files and directories, those its paths imply counted too): a bundle of
 * millions of empty files, or of a few files each a thousand directories deep, is an attack.
 */
export const MAX_BUNDLE_ENTRIES = 20_000;

/**
 * Counts the files and directories an archive's entries make, the directories their paths imply
 * included (`a/b/c/f` makes three directories and a file, whether or not the archive lists them).
 */
export class EntryCounter {
  /** The directories seen, as a tree of names: an entry costs its own segments, never a prefix re-hashed. */
  readonly #root = new Map<string, Map<string, unknown>>();
  #dirs = 0;
  #files = 0;

  /** Adds an entry (`dir/` or a directory entry: a directory); returns the count so far. */
  add(path: string, isDirectory = path.endsWith('/')): number {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    const dirs = isDirectory ? parts.length : parts.length - 1;
    let node = this.#root;
    for (let i = 0; i < dirs; i++) {
      let next = node.get(parts[i]!) as Map<string, Map<string, unknown>> | undefined;
      if (!next) {
        next = new Map();
        node.set(parts[i]!, next);
        this.#dirs++;
      }
      node = next;
    }
    if (!isDirectory) this.#files++;
    return this.count;
  }

  get count(): number {
    return this.#files + this.#dirs;
  }
}

/** The refusal of an archive with more than MAX_BUNDLE_ENTRIES entries. */
export function tooManyEntries(what = 'it'): NimbusError {
  return new NimbusError('ERR_BUNDLE_INVALID', [
    `${what} has more than ${MAX_BUNDLE_ENTRIES} entries (files and directories, those its paths imply included)`,
  ]);
}
/** tar entry types a bundle may hold: plain files and directories (links and devices are skipped). */
const TAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

export interface ArtifactsOptions {
  /** Largest unpacked size of one bundle, in bytes. Default DEFAULT_BUNDLE_MAX_UNPACKED_BYTES (250 MiB). */
  maxUnpackedBytes?: number;
  /** After an uploaded bundle is stored (cluster mode: publishes it for the other nodes); awaited. */
  onStored?: (hash: string) => Promise<void>;
}

export class Artifacts {
  readonly dir: string;
  readonly maxUnpackedBytes: number;
  readonly #onStored: ((hash: string) => Promise<void>) | undefined;

  constructor(dataDir: string, options: ArtifactsOptions = {}) {
    this.dir = join(dataDir, 'bundles');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Whatever an older Nimbus or the umask left: no other host user lists or reads a function's code.
    chmodSync(this.dir, 0o700);
    this.maxUnpackedBytes = options.maxUnpackedBytes ?? DEFAULT_BUNDLE_MAX_UNPACKED_BYTES;
    this.#onStored = options.onStored;
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
  async putDirectory(tmp: string): Promise<{ hash: string; created: boolean }> {
    const stored = await this.#moveIn(tmp);
    await this.#onStored?.(stored.hash);
    return stored;
  }

  async #moveIn(tmp: string): Promise<{ hash: string; created: boolean }> {
    try {
      normalizeBundleDir(tmp);
      if (listBundleFiles(tmp).length === 0)
        throw new NimbusError('ERR_BUNDLE_INVALID', ['it holds no files']);
      if (bundleBytes(tmp) > this.maxUnpackedBytes)
        throw new NimbusError('ERR_BUNDLE_TOO_LARGE', [describeBytes(this.maxUnpackedBytes)]);
      const hash = await hashBundleDir(tmp);
      if (this.has(hash)) return { hash, created: false };
      renameSync(tmp, join(this.dir, hash));
      return { hash, created: true };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Extracts a gzipped tar into the store and checks it hashes to `expected`. Returns true when new.
   * Refuses (ERR_BUNDLE_TOO_LARGE) as soon as the sizes its entries declare pass `maxUnpackedBytes`, or
   * it has more than MAX_BUNDLE_ENTRIES entries, before writing the rest.
   */
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
    let unpackedBytes = 0;
    const entries = new EntryCounter();
    let refusal: NimbusError | undefined;
    try {
      const unpack = tar.x({
        cwd: tmp,
        strict: true,
        preservePaths: false,
        // Never the archive's owner: the platform's user owns what it stores.
        preserveOwner: false,
        filter: (path, entry) => {
          const type = 'type' in entry ? entry.type : 'File';
          if (!TAR_FILE_TYPES.has(type)) return false;
          const counted = entries.add(path, type === 'Directory');
          unpackedBytes += 'size' in entry ? (entry.size ?? 0) : 0;
          if (
            refusal === undefined &&
            (unpackedBytes > this.maxUnpackedBytes || counted > MAX_BUNDLE_ENTRIES)
          ) {
            refusal =
              counted > MAX_BUNDLE_ENTRIES
                ? tooManyEntries()
                : new NimbusError('ERR_BUNDLE_TOO_LARGE', [describeBytes(this.maxUnpackedBytes)]);
            unpack.abort(refusal);
          }
          return refusal === undefined;
        },
      });
      try {
        await pipeline(archive, unpack);
      } catch (err) {
        if (refusal) throw refusal;
        if (err instanceof NimbusError) throw err;
        throw new NimbusError(
          'ERR_BUNDLE_INVALID',
          [`not a gzipped tar archive (${(err as Error).message})`],
          { cause: err },
        );
      }
      if (refusal) throw refusal;
      normalizeBundleDir(tmp);
      if (listBundleFiles(tmp).length === 0)
        throw new NimbusError('ERR_BUNDLE_INVALID', ['the archive holds no files']);
      const actual = await hashBundleDir(tmp);
      if (actual !== expected) throw new NimbusError('ERR_BUNDLE_HASH_MISMATCH', [actual, expected]);
      if (this.has(expected)) return false;
      renameSync(tmp, join(this.dir, expected));
      return true;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}

/** `262144000 bytes (250 MiB)`. */
export function describeBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return `${bytes} bytes (${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB)`;
}

/** Packs a bundle directory as a gzipped tar stream (the upload format). */
export function packBundle(dir: string): Readable {
  return tar.c(
    { gzip: true, cwd: dir, portable: true, noMtime: true },
    listBundleFiles(dir),
  ) as unknown as Readable;
}
