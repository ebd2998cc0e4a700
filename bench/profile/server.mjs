// The profiled Nimbus: the built platform with the sampling hook in its own process (started with
// `--import hook.mjs`) and in every node runner it starts (sandbox off, so the runner can write its profile).
import { fileURLToPath } from 'node:url';
import { loadPlatformConfig } from '../../dist/config/platform.js';
import { startPlatform } from '../../dist/platform.js';
import { RUNTIMES } from '../../dist/runtimes/index.js';
import { serveIpc } from '../children/ipc.mjs';

const HOOK = fileURLToPath(new URL('./hook.mjs', import.meta.url));
const node = RUNTIMES.node;
const launch = node.launch.bind(node);
node.launch = (fn, bundleDir, options) => {
  const spec = launch(fn, bundleDir, options);
  return {
    ...spec,
    args: [`--import=${HOOK}`, ...spec.args],
    env: { ...spec.env, NIMBUS_PROFILE_DIR: process.env.NIMBUS_PROFILE_DIR ?? '' },
    readOnlyPaths: [...(spec.readOnlyPaths ?? []), HOOK],
  };
};

const platform = await startPlatform(
  loadPlatformConfig({ port: 0, dataDir: process.argv[2], shutdownGraceMs: 1_000, sandbox: 'off' }),
  { output() {}, event() {} },
);
serveIpc({
  ready: { url: platform.url, token: platform.token },
  handlers: {},
  close: () => platform.close(),
});
