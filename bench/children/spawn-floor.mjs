// The spawn floor of a cold start: how long `node -e 0` takes from spawn() to exit, measured from a
// process pinned where the platform is (so the child runs on the same core as an instance would).
import { spawn } from 'node:child_process';
import { serveIpc } from './ipc.mjs';

/** The same bare environment an instance gets (see src/runtimes/runtime.ts). */
const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', TMPDIR: '/tmp' };

function once() {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(process.execPath, ['-e', '0'], { env: ENV, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(performance.now() - startedAt);
      else reject(new Error(`node -e 0 exited with code ${code}`));
    });
  });
}

/** @param {{ runs: number }} args */
async function spawnNode({ runs }) {
  const ms = [];
  for (let i = 0; i < runs; i++) ms.push(await once());
  return ms;
}

serveIpc({ ready: {}, handlers: { spawnNode } });
