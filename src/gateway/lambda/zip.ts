// A Lambda deployment package (`Code.ZipFile`) unpacked into a bundle directory: names are checked so no
// entry lands outside it (zip-slip), sizes are bounded (the central directory is summed before anything
// is written), exec bits are kept from Unix zips (never setuid/setgid), links are skipped.
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { NimbusError } from '../../errors.js';
import {
  DEFAULT_BUNDLE_MAX_UNPACKED_BYTES,
  describeBytes,
  EntryCounter,
  MAX_BUNDLE_ENTRIES,
  tooManyEntries,
} from '../../store/artifacts.js';

export const MAX_ZIP_ENTRIES = MAX_BUNDLE_ENTRIES;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const MADE_BY_UNIX = 3;

function invalid(reason: string): NimbusError {
  return new NimbusError('ERR_BUNDLE_INVALID', [`the zip file ${reason}`]);
}

/**
 * Unpacks `zip` into the (empty) directory `dir`. Throws ERR_BUNDLE_INVALID saying what is wrong, or
 * ERR_BUNDLE_TOO_LARGE (before writing anything) when its entries add up to more than `maxBytes`.
 */
export async function unzipInto(
  zip: Buffer,
  dir: string,
  maxBytes = DEFAULT_BUNDLE_MAX_UNPACKED_BYTES,
): Promise<{ files: number; bytes: number }> {
  // The central directory says every entry's size up front: a bomb is refused before a byte is written.
  let declared = 0;
  // The directories the names imply count as entries too: a few files a thousand directories deep are
  // thousands of writes.
  const counter = new EntryCounter();
  await forEachEntry(zip, async (entry) => {
    if (counter.add(entry.fileName) > MAX_ZIP_ENTRIES) throw tooManyEntries('the zip file');
    declared += entry.uncompressedSize;
    if (declared > maxBytes) throw new NimbusError('ERR_BUNDLE_TOO_LARGE', [describeBytes(maxBytes)]);
  });
  let zipfile: yauzl.ZipFile;
  try {
    // yauzl refuses absolute names, `..` segments and backslashes, and checks sizes against the data.
    zipfile = await yauzl.fromBufferPromise(zip, { lazyEntries: true, validateEntrySizes: true });
  } catch (err) {
    throw invalid(`cannot be read: ${(err as Error).message}`);
  }
  const root = resolve(dir);
  let files = 0;
  let bytes = 0;
  let entries = 0;
  try {
    for (;;) {
      const entry = await nextEntry(zipfile);
      if (!entry) break;
      if (++entries > MAX_ZIP_ENTRIES) throw invalid(`has more than ${MAX_ZIP_ENTRIES} entries`);
      const target = resolve(root, entry.fileName);
      if (target !== root && !target.startsWith(root + sep))
        throw invalid(`has an entry outside the package: ${entry.fileName}`);
      if (entry.fileName.endsWith('/')) {
        mkdirSync(target, { recursive: true });
        continue;
      }
      if (entry.isEncrypted()) throw invalid(`has an encrypted entry: ${entry.fileName}`);
      const unixMode = entry.versionMadeBy >> 8 === MADE_BY_UNIX ? entry.externalFileAttributes >>> 16 : 0;
      // A link could point anywhere on the host: bundles hold files only.
      if ((unixMode & S_IFMT) === S_IFLNK) continue;
      bytes += entry.uncompressedSize;
      if (bytes > maxBytes) throw new NimbusError('ERR_BUNDLE_TOO_LARGE', [describeBytes(maxBytes)]);
      const executable = (unixMode & 0o111) !== 0 || relative(root, target) === 'bootstrap';
      mkdirSync(dirname(target), { recursive: true });
      const stream = await zipfile.openReadStreamPromise(entry);
      await pipeline(stream, createWriteStream(target, { mode: executable ? 0o755 : 0o644, flags: 'wx' }));
      files++;
    }
  } catch (err) {
    if (err instanceof NimbusError) throw err;
    throw invalid(`cannot be unpacked: ${(err as Error).message}`);
  } finally {
    zipfile.close();
  }
  if (files === 0) throw invalid('holds no files');
  return { files, bytes };
}

/** Calls `visit` for every entry of the central directory (nothing is decompressed). */
async function forEachEntry(zip: Buffer, visit: (entry: yauzl.Entry) => Promise<void>): Promise<void> {
  let zipfile: yauzl.ZipFile;
  try {
    zipfile = await yauzl.fromBufferPromise(zip, { lazyEntries: true, validateEntrySizes: true });
  } catch (err) {
    throw invalid(`cannot be read: ${(err as Error).message}`);
  }
  try {
    for (;;) {
      const entry = await nextEntry(zipfile);
      if (!entry) return;
      await visit(entry);
    }
  } catch (err) {
    if (err instanceof NimbusError) throw err;
    throw invalid(`cannot be read: ${(err as Error).message}`);
  } finally {
    zipfile.close();
  }
}

function nextEntry(zipfile: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolveEntry, reject) => {
    const onEntry = (entry: yauzl.Entry) => {
      cleanup();
      resolveEntry(entry);
    };
    const onEnd = () => {
      cleanup();
      resolveEntry(undefined);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      zipfile.off('entry', onEntry);
      zipfile.off('end', onEnd);
      zipfile.off('error', onError);
    };
    zipfile.on('entry', onEntry);
    zipfile.on('end', onEnd);
    zipfile.on('error', onError);
    zipfile.readEntry();
  });
}
