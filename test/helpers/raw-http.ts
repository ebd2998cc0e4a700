// Test helper: sends raw bytes to an HTTP server and parses what comes back, checking that it is one complete
// HTTP/1.1 response (status line, headers, a body whose length the headers fix). For inputs no HTTP client
// would send: malformed targets, hostile Host headers, odd methods.
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Sends `request` (a whole request, bytes as given) and resolves with the parsed response. */
export function rawRequest(url: string, request: string | Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response within ${timeoutMs} ms to ${describe(request)}`));
    }, timeoutMs);
    const tryParse = (final: boolean) => {
      const parsed = parseResponse(Buffer.concat(chunks), final, request.toString().startsWith('HEAD '));
      if (parsed === 'incomplete') {
        if (final) {
          clearTimeout(timer);
          reject(new Error(`connection closed before a complete response to ${describe(request)}`));
        }
        return;
      }
      clearTimeout(timer);
      socket.destroy();
      if (parsed instanceof Error) reject(new Error(`${parsed.message} (request ${describe(request)})`));
      else resolve(parsed);
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(request);
  });
}

function describe(request: string | Buffer): string {
  const text = request.toString();
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

/**
 * One response from the start of `data` (`closed`: the server closed the connection after it; `head`: it
 * answers a HEAD request, so it has no body): the response,
 * 'incomplete', or an Error for a malformed one.
 */
export function parseResponse(
  data: Buffer,
  closed = false,
  head = false,
): RawResponse | 'incomplete' | Error {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) return 'incomplete';
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
  if (!m) return new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return new Error(`bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const status = Number(m[1]);
  const rest = data.subarray(headEnd + 4);
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200))
    return { status, reason: m[2]!, headers, body: Buffer.alloc(0) };
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const body: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd === -1) return 'incomplete';
      const size = Number.parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) return new Error('bad chunk size');
      if (rest.length < lineEnd + 2 + size + 2) return 'incomplete';
      if (size === 0) return { status, reason: m[2]!, headers, body: Buffer.concat(body) };
      body.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (!Number.isInteger(length) || length < 0) return new Error('bad content-length');
    if (rest.length < length) return 'incomplete';
    return { status, reason: m[2]!, headers, body: rest.subarray(0, length) };
  }
  // No length: the body runs to the end of the connection (the caller sends `connection: close`).
  return closed ? { status, reason: m[2]!, headers, body: rest } : 'incomplete';
}

/**
 * The code of an error answer in any of the gateway's shapes (docs/errors.md): Nimbus's JSON, OpenFaaS's
 * `CODE: message` text, AWS's `x-amzn-ErrorType`, OpenWhisk's `{"error", "code"}`.
 */
export function errorCode(res: RawResponse): string | undefined {
  if (res.headers['x-amzn-errortype']) return res.headers['x-amzn-errortype'];
  const body = res.body.toString();
  const text = /^(ERR_[A-Z_]+): ./.exec(body)?.[1];
  if (text) return text;
  try {
    const parsed = JSON.parse(body) as { error?: unknown; code?: unknown };
    // OpenWhisk's shape: {"error": "<message>", "code": "ERR_…"}.
    if (
      typeof parsed.error === 'string' &&
      typeof parsed.code === 'string' &&
      /^ERR_[A-Z_]+$/.test(parsed.code)
    )
      return parsed.code;
    const code = parsed.error as { code?: unknown; message?: unknown } | undefined;
    return typeof code?.code === 'string' &&
      /^ERR_[A-Z_]+$/.test(code.code) &&
      typeof code.message === 'string'
      ? code.code
      : undefined;
  } catch {
    return undefined;
  }
}
