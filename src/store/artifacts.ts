// Content-addressed bundles on disk: data/bundles/<sha256>/, written once through a temp dir and a rename.
// The store is private to the platform's user (0700); what arrives is bounded in size and made plain.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
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
/**
 * Path segments an entry may have (its file included). Every system call on a path walks each of its
 * directories: a tree a thousand deep made removing a refused upload take a minute of the gateway's thread.
 */
export const MAX_BUNDLE_DEPTH = 128;

export class EntryCounter {
  /** The directories seen, as a tree of names: an entry costs its own segments, never a prefix re-hashed. */
  readonly #root = new Map<string, Map<string, unknown>>();
  #dirs = 0;
  #files = 0;

  /**
   * Adds an entry (`dir/` or a directory entry: a directory); returns the count so far. Throws
   * ERR_BUNDLE_INVALID for an entry deeper than MAX_BUNDLE_DEPTH.
   */
  add(path: string, isDirectory = path.endsWith('/')): number {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length > MAX_BUNDLE_DEPTH)
      throw new NimbusError('ERR_BUNDLE_INVALID', [
        `an entry is more than ${MAX_BUNDLE_DEPTH} directories deep (${path.slice(0, 60)}…)`,
      ]);
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
      await rm(tmp, { recursive: true, force: true });
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
          if (refusal !== undefined) return false;
          let counted: number;
          try {
            counted = entries.add(path, type === 'Directory');
          } catch (err) {
            refusal = err as NimbusError;
            unpack.abort(refusal);
            return false;
          }
          unpackedBytes += 'size' in entry ? (entry.size ?? 0) : 0;
          if (unpackedBytes > this.maxUnpackedBytes || counted > MAX_BUNDLE_ENTRIES) {
            refusal =
              counted > MAX_BUNDLE_ENTRIES
                ? tooManyEntries()
                : new NimbusError('ERR_BUNDLE_TOO_LARGE', [describeBytes(this.maxUnpackedBytes)]);
            unpack.abort(refusal);
          }
          return refusal === undefined;
        },
      });
      // What follows the end-of-archive blocks is padding: node-tar would keep all of it in one buffer it
      // grows by copying, chunk after chunk (a 1 MB upload of zeros held the gateway's thread for hours).
      // So the gzip is undone here, bounded, and nothing after the end reaches the parser.
      let ended = false;
      unpack.on('eof', () => {
        ended = true;
      });
      const untilEnd = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          callback(null, ended ? undefined : chunk);
        },
      });
      try {
        await pipeline(
          archive,
          createGunzip(),
          boundedBytes(maxTarBytes(this.maxUnpackedBytes), () => {
            refusal ??= new NimbusError('ERR_BUNDLE_TOO_LARGE', [describeBytes(this.maxUnpackedBytes)]);
            return refusal;
          }),
          untilEnd,
          unpack,
        );
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
      await removeUpload(tmp);
    }
  }
}

/**
 * The most a tar of a bundle within `maxUnpackedBytes` can hold, padding included: its files, a header and
 * a pax header (a long name) of up to a block each per entry, rounding, and a few MiB of end padding.
 */
export function maxTarBytes(maxUnpackedBytes: number): number {
  return maxUnpackedBytes + MAX_BUNDLE_ENTRIES * 3 * 512 + 8 * 1024 * 1024;
}

/** Passes at most `limit` bytes; past them the stream fails with `refusal()`. */
function boundedBytes(limit: number, refusal: () => Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(refusal());
      else callback(null, chunk);
    },
  });
}

/**
 * Removes what a refused upload left: moved aside first, so a write the parser still had in flight fails
 * instead of landing in a directory being removed; then removed without holding the gateway's thread.
 */
async function removeUpload(tmp: string): Promise<void> {
  const aside = `${tmp}.removing`;
  try {
    renameSync(tmp, aside);
  } catch {
    // Stored (renamed into the store) or never made.
    return;
  }
  await rm(aside, { recursive: true, force: true, maxRetries: 3 });
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
