// What node:http meets before any route does: a request its parser refuses (at any point, before or after a
// handler took it) and CONNECT (Nimbus is no proxy), each answered once, coded, before the connection closes;
// and `Expect: 100-continue`, answered when a handler reads the body, not before.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { NimbusError } from '../errors.js';

/**
 * Answers what the server's parser refuses, and CONNECT, on `server`; and answers `Expect: 100-continue` only
 * once a handler starts reading the body: a request refused before that (no credential, a body past its
 * limit) is answered without inviting the body, and node:http closes the connection after that answer.
 */
export function guardServer(
  server: Server,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  server.on('clientError', answerClientError);
  server.on('connect', answerConnect);
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // A reader attaches 'data' (or 'readable', as async iteration does); a drain only resumes.
    const onListener = (event: string | symbol) => {
      if (event !== 'data' && event !== 'readable') return;
      req.off('newListener', onListener);
      if (!res.headersSent && !res.writableEnded) res.writeContinue();
    };
    req.on('newListener', onListener);
    onRequest(req, res);
  });
}

/**
 * A bad method, header or framing, headers past the limit, a client too slow to send its request. The parser
 * may refuse a request after its head, mid-body (a bad chunk, a Transfer-Encoding that does not end in
 * chunked): while the handler that took it has sent nothing, the coded answer still goes out.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, reason, error] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', new NimbusError('ERR_REQUEST_HEADERS_TOO_LARGE')]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', new NimbusError('ERR_REQUEST_TIMEOUT')]
        : [400, 'Bad Request', new NimbusError('ERR_REQUEST_INVALID', ['it is not valid HTTP/1.1'])];
  answerRaw(socket, status, reason, error);
}

function answerConnect(req: IncomingMessage, socket: Duplex): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const target = (req.url ?? '').slice(0, 200).replace(/[\u0000-\u001f\u007f]/g, '?');
  answerRaw(
    socket,
    405,
    'Method Not Allowed',
    new NimbusError('ERR_METHOD_NOT_ALLOWED', ['CONNECT', target]),
  );
}

function answerRaw(socket: Duplex, status: number, reason: string, error: NimbusError): void {
  const body = JSON.stringify(error.toJSON());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // The handler that took the request may still write: nothing more goes out on this connection.
  socket.once('finish', () => socket.destroy());
}
