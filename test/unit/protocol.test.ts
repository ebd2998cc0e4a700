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

test('the decoder refuses a frame past the protocol limit', () => {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32BE(MAX_FRAME_PAYLOAD_BYTES + 1, 0);
  const d = new FrameDecoder(() => {});
  assert.throws(() => d.push(h), /exceeds the protocol limit/);
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
