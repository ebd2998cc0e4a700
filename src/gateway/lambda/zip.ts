// A Lambda deployment package (`Code.ZipFile`) unpacked into a bundle directory: names are checked so no
// entry lands outside it (zip-slip), sizes are bounded, exec bits are kept from Unix zips, links are skipped.
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { NimbusError } from '../../errors.js';

/** Lambda's own limit on a function's unzipped code. */
export const MAX_UNZIPPED_BYTES = 250 * 1024 * 1024;
export const MAX_ZIP_ENTRIES = 20_000;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const MADE_BY_UNIX = 3;

function invalid(reason: string): NimbusError {
  return new NimbusError('ERR_BUNDLE_INVALID', [`the zip file ${reason}`]);
}

/** Unpacks `zip` into the (empty) directory `dir`. Throws ERR_BUNDLE_INVALID saying what is wrong. */
export async function unzipInto(zip: Buffer, dir: string): Promise<{ files: number; bytes: number }> {
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
      if (bytes > MAX_UNZIPPED_BYTES)
        throw invalid(`unpacks to more than ${MAX_UNZIPPED_BYTES} bytes (Lambda's limit too)`);
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
