// Inside a sandbox with a network namespace of its own, the gateway is not on this loopback: the runner
// listens on SANDBOX_GATEWAY_PORT here and pipes each connection to the gateway's Unix socket bound into
// the sandbox (NIMBUS_GATEWAY_SOCKET), so NIMBUS_URL, AWS_ENDPOINT_URL_LAMBDA and __OW_API_HOST work from
// the function and from programs it starts. Bundled into each Node runner; runner.py has its own.
import { connect, createServer, type Server } from 'node:net';
import { SANDBOX_GATEWAY_PORT } from '../sandbox/bwrap.js';

/** Starts the forwarder when Nimbus bound the gateway's socket; resolves once it listens (or at once). */
export function forwardGatewayPort(): Promise<Server | null> {
  const socketPath = process.env.NIMBUS_GATEWAY_SOCKET;
  delete process.env.NIMBUS_GATEWAY_SOCKET;
  if (!socketPath) return Promise.resolve(null);
  const server = createServer({ noDelay: true }, (client) => {
    const gateway = connect(socketPath);
    client.pipe(gateway).pipe(client);
    const end = (): void => {
      client.destroy();
      gateway.destroy();
    };
    client.on('error', end);
    gateway.on('error', end);
    client.on('close', end);
    gateway.on('close', end);
  });
  // Never keeps the runner alive by itself: the instance ends with the gateway's connection.
  server.unref();
  return new Promise((resolve) => {
    server.once('error', (err) => {
      // The port is taken (a program started at load?): the function can still run, without the platform.
      process.stderr.write(
        `nimbus runner: cannot forward the gateway on port ${SANDBOX_GATEWAY_PORT}: ${err.message}\n`,
      );
      resolve(null);
    });
    server.listen(SANDBOX_GATEWAY_PORT, '127.0.0.1', () => resolve(server));
  });
}
