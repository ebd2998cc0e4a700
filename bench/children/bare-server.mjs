// A bare node:http hello server: the limit Nimbus is measured against. It answers what the bench's hello
// function answers, with the same keep-alive timeout as the gateway.
import { createServer } from 'node:http';
import { serveIpc } from './ipc.mjs';

const server = createServer({ keepAliveTimeout: 65_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain;charset=UTF-8' });
  res.end('hello');
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  serveIpc({
    ready: { url: `http://127.0.0.1:${port}` },
    handlers: {},
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
});
