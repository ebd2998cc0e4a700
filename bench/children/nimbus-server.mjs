// Nimbus as the bench runs it: the built platform (dist/, as `nimbus up` runs it), no loader, in its own
// process so its heap and CPU are its own. Forwards instance start times to the bench.
import { loadPlatformConfig } from '../../dist/config/platform.js';
import { startPlatform } from '../../dist/platform.js';
import { sendEvent, serveIpc } from './ipc.mjs';

const dataDir = process.argv[2];
if (!dataDir) {
  process.stderr.write('usage: nimbus-server.mjs <dataDir>\n');
  process.exit(2);
}

const log = {
  output() {},
  event(event) {
    if (event.type === 'instance-ready' || event.type === 'instance-start-failed') sendEvent(event);
  },
};

const platform = await startPlatform(loadPlatformConfig({ port: 0, dataDir, shutdownGraceMs: 1_000 }), log);
serveIpc({
  ready: { url: platform.url, token: platform.token },
  handlers: {},
  close: () => platform.close(),
});
