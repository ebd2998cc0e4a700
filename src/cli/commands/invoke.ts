// `nimbus invoke NAME`: calls a function and prints its response body.
import { readFileSync } from 'node:fs';
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';

export const invokeCommand: Command = {
  summary: 'call a function and print its response',
  usage:
    'nimbus invoke NAME [--namespace NS] [--data TEXT | --file PATH] [--method POST] [--path /sub?x=1] [-H "name: value"]... [--include] [--key SECRET]',
  options: {
    ...CLIENT_OPTIONS,
    data: { type: 'string', short: 'd' },
    file: { type: 'string' },
    method: { type: 'string', short: 'X' },
    path: { type: 'string' },
    header: { type: 'string', short: 'H', multiple: true },
    include: { type: 'boolean', short: 'i' },
    // A private function's key (an invoke key's secret); NIMBUS_KEY too. The admin token is never sent.
    key: { type: 'string' },
    // --data is the request body here; the data dir is still found through NIMBUS_DATA.
  },
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw new NimbusError('ERR_CLI_USAGE', ['name the function: nimbus invoke hello --data "{}"']);
    const client = clientFrom({
      url: values.url as string | undefined,
      token: values.token as string | undefined,
      namespace: values.namespace as string | undefined,
    });
    let body: Buffer | undefined;
    if (values.file !== undefined) body = readFileSync(values.file as string);
    else if (values.data !== undefined) body = Buffer.from(values.data as string);
    const headers: Record<string, string> = {};
    for (const h of (values.header as string[] | undefined) ?? []) {
      const i = h.indexOf(':');
      if (i <= 0) throw new NimbusError('ERR_CLI_USAGE', [`header "${h}" must look like "name: value"`]);
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = looksLikeJson(body) ? 'application/json' : 'application/octet-stream';
    }
    // The admin token is for the control API only: a function is called as any client calls it, with an
    // invoke key when it is private.
    const key = (values.key as string | undefined) ?? process.env.NIMBUS_KEY;
    if (key) headers.authorization = `Bearer ${key}`;
    const path = (values.path as string | undefined) ?? '';
    const url = new URL(
      `/function/${encodeURIComponent(client.functionId(name))}${path.startsWith('/') || path.startsWith('?') || path === '' ? path : `/${path}`}`,
      client.baseUrl,
    );
    let res: Response;
    try {
      res = await fetch(url, {
        method: (values.method as string | undefined) ?? (body ? 'POST' : 'GET'),
        headers,
        ...(body ? { body } : {}),
      });
    } catch (err) {
      throw new NimbusError('ERR_CLI_UNREACHABLE', [
        client.baseUrl,
        (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message,
      ]);
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status >= 400 && (res.headers.get('content-type') ?? '').includes('application/json')) {
      try {
        const parsed = JSON.parse(bytes.toString('utf8')) as { error?: { code?: string; message?: string } };
        if (parsed.error?.code) {
          process.stderr.write(`${parsed.error.code}: ${parsed.error.message}\n`);
          return 1;
        }
      } catch {}
    }
    if (values.include) {
      process.stdout.write(`HTTP ${res.status}\n`);
      for (const [k, v] of res.headers) process.stdout.write(`${k}: ${v}\n`);
      process.stdout.write('\n');
    }
    process.stdout.write(bytes);
    if (bytes.length > 0 && bytes[bytes.length - 1] !== 10 && process.stdout.isTTY)
      process.stdout.write('\n');
    return res.status >= 400 ? 1 : 0;
  },
};

function looksLikeJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
