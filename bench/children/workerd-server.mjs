// workerd serving the bench's hello as a Worker (its own HTTP server, no Nimbus in between): a peer row
// of the warm path. Started pinned by the bench with the binary's path; workerd inherits the pinning.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveIpc } from './ipc.mjs';

const binary = process.argv[2];
if (!binary) {
  process.stderr.write('usage: workerd-server.mjs <workerd binary>\n');
  process.exit(2);
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for workerd to take). */
async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const dir = mkdtempSync(join(tmpdir(), 'nimbus-workerd-'));
const port = await freePort();
writeFileSync(join(dir, 'hello.js'), `export default { async fetch() { return new Response('hello'); } };\n`);
writeFileSync(
  join(dir, 'config.capnp'),
  `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .hello) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const hello :Workerd.Worker = (
  modules = [ (name = "hello.js", esModule = embed "hello.js") ],
  compatibilityDate = "2024-09-23",
);
`,
);
const child = spawn(binary, ['serve', join(dir, 'config.capnp')], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const url = `http://127.0.0.1:${port}`;
const deadline = Date.now() + 20_000;
for (;;) {
  try {
    const res = await fetch(`${url}/`);
    if ((await res.text()) === 'hello') break;
  } catch {}
  if (child.exitCode !== null || Date.now() > deadline) {
    process.stderr.write('workerd did not answer within 20 s\n');
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}

serveIpc({
  ready: { url, workerdPid: child.pid },
  handlers: {},
  close: async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  },
});
