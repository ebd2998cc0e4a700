// Hostile bundles through the real gateway: a small archive that unpacks to far more than
// bundleMaxUnpackedBytes (tar upload, Lambda zip) is refused with ERR_BUNDLE_TOO_LARGE before the rest is
// written; an archive of too many entries is refused; links and setuid bits never reach the store.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  createWriteStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createGzip } from 'node:zlib';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { strToU8, zipSync } from 'fflate';
import { hashBundleDir, listBundleFiles } from '../../src/build/bundle-hash.js';
import { MAX_BUNDLE_ENTRIES } from '../../src/store/artifacts.js';
import { startTestPlatform } from '../helpers/platform.js';
import { adminKey } from './helpers.js';

const CAP = 8 * 1024 * 1024;

/** A POSIX tar header (ustar) for a regular file of `size` bytes. */
function tarHeader(name: string, size: number, mode = 0o644, type = '0', linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string): void => {
    h.write(value, offset, length, 'ascii');
  };
  const octal = (offset: number, length: number, value: number): void =>
    field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  field(148, 8, '        ');
  field(156, 1, type);
  field(157, 100, linkname);
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of h) sum += byte;
  octal(148, 7, sum);
  return h;
}

/** Writes a gzipped tar of `files` (zeros of the given size, so it compresses to almost nothing). */
async function zeroTar(path: string, files: { name: string; size: number }[]): Promise<void> {
  const gzip = createGzip();
  const out = createWriteStream(path);
  gzip.pipe(out);
  const chunk = Buffer.alloc(1024 * 1024);
  for (const { name, size } of files) {
    gzip.write(tarHeader(name, size));
    for (let left = size; left > 0; left -= chunk.length) {
      if (!gzip.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await once(gzip, 'drain');
    }
    const pad = (512 - (size % 512)) % 512;
    if (pad) gzip.write(Buffer.alloc(pad));
  }
  gzip.end(Buffer.alloc(1024));
  await once(out, 'close');
}

describe('hostile bundles', () => {
  it('a small tar that unpacks past the cap, or with too many entries, is refused before it is written', async (t) => {
    const nimbus = await startTestPlatform(t, { bundleMaxUnpackedBytes: CAP });
    const work = mkdtempSync(join(tmpdir(), 'nimbus-bomb-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const auth = { authorization: `Bearer ${nimbus.platform.token}` };
    const storeBytes = (): number => {
      let bytes = 0;
      const walk = (dir: string): void => {
        for (const name of readdirSync(dir)) {
          const st = lstatSync(join(dir, name));
          if (st.isDirectory()) walk(join(dir, name));
          else bytes += st.size;
        }
      };
      walk(nimbus.platform.artifacts.dir);
      return bytes;
    };

    // 64 MiB of zeros in one entry, a few small ones first: the archive is well under 1 MiB.
    const bomb = join(work, 'bomb.tgz');
    await zeroTar(bomb, [
      { name: 'index.mjs', size: 10 },
      { name: 'zeros', size: 64 * 1024 * 1024 },
    ]);
    const bytes = readFileSync(bomb);
    assert.ok(bytes.length < 1024 * 1024, `the bomb is small (${bytes.length} bytes)`);
    const res = await fetch(`${nimbus.url}/api/v1/bundles/${'a'.repeat(64)}`, {
      method: 'PUT',
      headers: auth,
      body: bytes,
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 413);
    assert.equal(body.error.code, 'ERR_BUNDLE_TOO_LARGE');
    assert.match(body.error.message, /8388608 bytes \(8 MiB\)/);
    assert.equal(storeBytes(), 0, 'nothing of it stays in the store');
    assert.deepEqual(readdirSync(nimbus.platform.artifacts.dir), []);

    // Many tiny entries: refused by count.
    const many = join(work, 'many.tgz');
    await zeroTar(
      many,
      Array.from({ length: MAX_BUNDLE_ENTRIES + 1 }, (_, i) => ({ name: `f${i}`, size: 0 })),
    );
    const res2 = await fetch(`${nimbus.url}/api/v1/bundles/${'b'.repeat(64)}`, {
      method: 'PUT',
      headers: auth,
      body: readFileSync(many),
    });
    const body2 = (await res2.json()) as { error: { code: string; message: string } };
    assert.equal(res2.status, 400);
    assert.equal(body2.error.code, 'ERR_BUNDLE_INVALID');
    assert.match(body2.error.message, new RegExp(`more than ${MAX_BUNDLE_ENTRIES} entries`));
    assert.deepEqual(readdirSync(nimbus.platform.artifacts.dir), []);
    // The platform keeps serving its control API.
    assert.equal((await fetch(`${nimbus.url}/healthz`)).status, 200);
  });

  it('links in a tar are left out, and the rest is stored plain', async (t) => {
    const nimbus = await startTestPlatform(t);
    const work = mkdtempSync(join(tmpdir(), 'nimbus-links-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const dir = join(work, 'b');
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.mjs'), 'export default { fetch: () => new Response("plain") };\n');
    const hash = await hashBundleDir(dir);
    // A symlink to the host's root and a hard link to a file outside, beside the code.
    const code = readFileSync(join(dir, 'index.mjs'));
    const archive = Buffer.concat([
      tarHeader('index.mjs', code.length),
      Buffer.concat([code, Buffer.alloc(512 - code.length)]),
      tarHeader('escape', 0, 0o777, '2', '/'),
      tarHeader('shadow', 0, 0o644, '1', '../../../../etc/shadow'),
      Buffer.alloc(1024),
    ]);
    const gz = join(work, 'links.tgz');
    await new Promise<void>((resolve, reject) => {
      const gzip = createGzip();
      gzip.pipe(createWriteStream(gz)).on('close', resolve).on('error', reject);
      gzip.end(archive);
    });
    const res = await fetch(`${nimbus.url}/api/v1/bundles/${hash}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${nimbus.platform.token}` },
      body: readFileSync(gz),
    });
    assert.equal(res.status, 201, await res.text());
    const stored = nimbus.platform.artifacts.path(hash);
    assert.deepEqual(readdirSync(stored), ['index.mjs']);
    assert.deepEqual(listBundleFiles(stored), ['index.mjs']);
    assert.equal(lstatSync(nimbus.platform.artifacts.dir).mode & 0o777, 0o700, 'the store is private');
  });

  it('a Lambda zip past the cap is refused before anything is written; a setuid entry loses its bit', async (t) => {
    const nimbus = await startTestPlatform(t, { bundleMaxUnpackedBytes: CAP });
    const key = await adminKey(nimbus.url, nimbus.platform.token);
    const lambda = new LambdaClient({
      endpoint: nimbus.url,
      region: 'eu-west-1',
      maxAttempts: 1,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    });
    t.after(() => lambda.destroy());
    const unix = (mode: number) => ({ os: 3, attrs: (0o100000 | mode) * 0x10000 });
    const handler = strToU8('exports.handler = async () => "ok";\n');
    const bomb = zipSync({
      'index.js': [handler, unix(0o644)],
      zeros: [new Uint8Array(64 * 1024 * 1024), unix(0o644)],
    });
    assert.ok(bomb.length < 1024 * 1024, `the zip is small (${bomb.length} bytes)`);
    await assert.rejects(
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: 'bomb',
          Runtime: 'nodejs20.x',
          Role: 'arn:aws:iam::000000000000:role/nimbus',
          Handler: 'index.handler',
          Code: { ZipFile: bomb },
        }),
      ),
      (err: Error) => {
        assert.equal(err.name, 'InvalidParameterValueException');
        assert.match(err.message, /unpacks to more than 8388608 bytes/);
        return true;
      },
    );
    assert.deepEqual(readdirSync(nimbus.platform.artifacts.dir), []);

    const setuid = zipSync({
      'index.js': [handler, unix(0o644)],
      helper: [strToU8('#!/bin/sh\nid\n'), unix(0o4755)],
      'group-helper': [strToU8('#!/bin/sh\nid\n'), unix(0o2755)],
    });
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'plain',
        Runtime: 'nodejs20.x',
        Role: 'arn:aws:iam::000000000000:role/nimbus',
        Handler: 'index.handler',
        Code: { ZipFile: setuid },
      }),
    );
    assert.equal(created.State, 'Active');
    const [bundle] = readdirSync(nimbus.platform.artifacts.dir);
    const stored = join(nimbus.platform.artifacts.dir, bundle!);
    assert.equal(lstatSync(join(stored, 'helper')).mode & 0o7777, 0o755);
    assert.equal(lstatSync(join(stored, 'group-helper')).mode & 0o7777, 0o755);
  });
});
