// The instance protocol codec: frames split and joined across chunks, large bodies split, batching per turn.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeFields,
  FLAG_END,
  FrameDecoder,
  FrameType,
  FrameWriter,
  HEADER_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
} from '../../src/instances/protocol.js';

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32BE(payload.length, 0);
  h[4] = type;
  h[5] = flags;
  h.writeUInt32BE(id, 6);
  return Buffer.concat([h, payload]);
}

test('the decoder reassembles frames split at every byte boundary', () => {
  const a = frame(FrameType.REQUEST, 0, 7, Buffer.from('GET\0/x\0host\0h'));
  const b = frame(FrameType.REQUEST_BODY, FLAG_END, 7, Buffer.from([0, 1, 2, 255]));
  const all = Buffer.concat([a, b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const got: [number, number, number, string][] = [];
    const d = new FrameDecoder((type, flags, id, payload) =>
      got.push([type, flags, id, payload.toString('hex')]),
    );
    d.push(all.subarray(0, cut));
    d.push(all.subarray(cut));
    assert.deepEqual(got, [
      [FrameType.REQUEST, 0, 7, Buffer.from('GET\0/x\0host\0h').toString('hex')],
      [FrameType.REQUEST_BODY, FLAG_END, 7, '000102ff'],
    ]);
  }
});

test('the decoder reassembles any mix of frames cut into chunks of any size, a byte each included', () => {
  // A seeded generator: the same cuts every run.
  let seed = 42;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const sent: [number, number, number, string][] = [];
  const frames: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const payload = Buffer.alloc([0, 1, 9, 10, 11, 300, 70_000][random(7)]!, i);
    const type = 10 + random(7);
    frames.push(frame(type, i % 2, i + 1, payload));
    sent.push([type, i % 2, i + 1, payload.toString('hex')]);
  }
  const all = Buffer.concat(frames);
  for (const maxCut of [1, 3, 11, 4096, 100_000]) {
    const got: [number, number, number, string][] = [];
    const d = new FrameDecoder((type, flags, id, payload) =>
      got.push([type, flags, id, payload.toString('hex')]),
    );
    for (let at = 0; at < all.length; ) {
      const size = 1 + random(maxCut);
      d.push(all.subarray(at, at + size));
      at += size;
    }
    assert.deepEqual(got, sent, `chunks of up to ${maxCut} bytes`);
  }
});

test('the decoder refuses a frame past the protocol limit, a header split or not', () => {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32BE(MAX_FRAME_PAYLOAD_BYTES + 1, 0);
  const d = new FrameDecoder(() => {});
  assert.throws(() => d.push(h), /exceeds the protocol limit/);
  const split = new FrameDecoder(() => {});
  split.push(h.subarray(0, 3));
  assert.throws(() => split.push(h.subarray(3)), /exceeds the protocol limit/);
});

test('fields round-trip through NUL separation', () => {
  assert.deepEqual(decodeFields(Buffer.from(['200', 'a', 'b c', 'set-cookie', 'x=1; Path=/'].join('\0'))), [
    '200',
    'a',
    'b c',
    'set-cookie',
    'x=1; Path=/',
  ]);
});

test('the writer batches a turn into one write and splits large bodies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-proto-'));
  const path = join(dir, 's.sock');
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const client = connect(path);
  const [peer] = (await once(server, 'connection')) as [Socket];
  t.after(() => {
    client.destroy();
    peer.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const frames: [number, number, number, number][] = [];
  let reads = 0;
  const decoder = new FrameDecoder((type, flags, id, payload) =>
    frames.push([type, flags, id, payload.length]),
  );
  peer.on('data', (chunk: Buffer) => {
    reads++;
    decoder.push(chunk);
  });
  const writer = new FrameWriter(client);
  let writes = 0;
  const write = client.write.bind(client);
  client.write = ((...args: Parameters<typeof client.write>) => {
    writes++;
    return write(...args);
  }) as typeof client.write;
  for (let i = 1; i <= 50; i++) writer.text(FrameType.REQUEST, FLAG_END, i, `GET\0/${i}`);
  const big = new Uint8Array(MAX_FRAME_PAYLOAD_BYTES * 2 + 10);
  writer.bytes(FrameType.REQUEST_BODY, FLAG_END, 99, big);
  await new Promise((r) => setTimeout(r, 50));
  while (frames.length < 53) await once(peer, 'data');
  assert.equal(frames.length, 53);
  assert.deepEqual(frames.slice(50), [
    [FrameType.REQUEST_BODY, 0, 99, MAX_FRAME_PAYLOAD_BYTES],
    [FrameType.REQUEST_BODY, 0, 99, MAX_FRAME_PAYLOAD_BYTES],
    [FrameType.REQUEST_BODY, FLAG_END, 99, 10],
  ]);
  assert.ok(writes >= 1 && reads >= 1);
  assert.ok(writes <= 56, `queued frames are written together (${writes} write calls under one cork)`);
});
