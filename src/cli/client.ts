// A client of the control API, used by the CLI and the tests.
import { request } from 'node:http';
import type { BuiltFunction } from '../build/build.js';
import { ERRORS, type ErrorCode, NimbusError } from '../errors.js';
import { packBundle } from '../store/artifacts.js';

export interface FunctionView {
  name: string;
  namespace: string;
  version: number;
  runtime: string;
  bundle: string;
  entry: string;
  url: string;
  spec: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  invocations: number;
  errors: number;
  instances: number;
  starting: number;
  inflight: number;
  queued: number;
  status: 'ready' | 'unhealthy';
  lastError?: string;
  /** The next cron run (ISO), when the function has a schedule. */
  nextRun?: string;
  changed?: boolean;
}

/** An error answered by the gateway, kept with its code. */
export class ApiError extends NimbusError {
  constructor(code: string, message: string, status: number) {
    super(code in ERRORS ? (code as ErrorCode) : 'ERR_INTERNAL', []);
    Object.defineProperty(this, 'message', { value: message });
    Object.defineProperty(this, 'status', { value: status });
  }
}

export class NimbusClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    /** The namespace the function calls act in; undefined: the default one. */
    readonly namespace?: string | undefined,
  ) {}

  /** `?namespace=` for the client's namespace ('' when it has none). */
  private get nsQuery(): string {
    return this.namespace === undefined ? '' : `?namespace=${encodeURIComponent(this.namespace)}`;
  }

  /** The control API path of a function (and a sub-resource of it), in the client's namespace. */
  functionPath(name: string, sub = ''): string {
    return `/api/v1/functions/${encodeURIComponent(name)}${sub}${this.nsQuery}`;
  }

  /** The function's id (its route under /function/): `name`, or `name.namespace`. */
  functionId(name: string): string {
    return this.namespace === undefined || this.namespace === 'default' ? name : `${name}.${this.namespace}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}`, ...extra } : extra;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(new URL(path, this.baseUrl), {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return parse<T>(res);
  }

  /** Sends raw bytes; resolves with the raw answer (errors answered as codes throw). */
  async raw(method: string, path: string, body: Buffer): Promise<Buffer> {
    const res = await this.send(new URL(path, this.baseUrl), {
      method,
      headers: this.headers({ 'content-type': 'application/octet-stream' }),
      body,
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status >= 400) throw apiError(res.status, bytes.toString('utf8'));
    return bytes;
  }

  /** A function's log lines as NDJSON (`/system/logs`): the response, its body still to read. */
  async logs(
    name: string,
    query: { tail?: number; since?: string; follow?: boolean },
    signal?: AbortSignal,
  ): Promise<Response> {
    const url = new URL('/system/logs', this.baseUrl);
    url.searchParams.set('name', name);
    if (this.namespace !== undefined) url.searchParams.set('namespace', this.namespace);
    if (query.tail !== undefined) url.searchParams.set('tail', String(query.tail));
    if (query.since !== undefined) url.searchParams.set('since', query.since);
    if (query.follow) url.searchParams.set('follow', 'true');
    const res = await this.send(url, { headers: this.headers(), ...(signal ? { signal } : {}) });
    if (res.status >= 400) throw apiError(res.status, await res.text());
    return res;
  }

  async hasBundle(hash: string): Promise<boolean> {
    const res = await this.send(new URL(`/api/v1/bundles/${hash}`, this.baseUrl), {
      method: 'HEAD',
      headers: this.headers(),
    });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return parse<never>(res);
  }

  /** fetch, with a gateway that cannot be reached said as ERR_CLI_UNREACHABLE. */
  private async send(url: URL, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      throw new NimbusError('ERR_CLI_UNREACHABLE', [this.baseUrl, describeCause(err)], { cause: err });
    }
  }

  /**
   * Uploads a built bundle unless the gateway has it already. `onProgress` hears the bytes sent so far.
   * Returns the bytes uploaded (0: the gateway had the bundle).
   */
  async uploadBundle(
    built: Pick<BuiltFunction, 'bundleDir' | 'hash'>,
    onProgress?: (sentBytes: number) => void,
  ): Promise<number> {
    if (await this.hasBundle(built.hash)) return 0;
    let sent = 0;
    const url = new URL(`/api/v1/bundles/${built.hash}`, this.baseUrl);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        url,
        { method: 'PUT', headers: this.headers({ 'content-type': 'application/gzip' }) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (err) =>
        reject(new NimbusError('ERR_CLI_UNREACHABLE', [this.baseUrl, err.message], { cause: err })),
      );
      const packed = packBundle(built.bundleDir);
      packed.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        onProgress?.(sent);
      });
      packed.pipe(req);
    });
    if (status >= 400) throw apiError(status, text);
    return sent;
  }

  deploy(name: string, bundle: string, spec: unknown, entry?: string): Promise<FunctionView> {
    return this.call('PUT', `/api/v1/functions/${encodeURIComponent(name)}${this.nsQuery}`, {
      bundle,
      spec,
      ...(entry ? { entry } : {}),
    });
  }

  /** The functions of the client's namespace (`allNamespaces`: of every namespace its credential sees). */
  list(allNamespaces = false): Promise<{ functions: FunctionView[] }> {
    return this.call('GET', `/api/v1/functions${allNamespaces ? '?namespace=*' : this.nsQuery}`);
  }

  get(name: string): Promise<FunctionView> {
    return this.call('GET', `/api/v1/functions/${encodeURIComponent(name)}${this.nsQuery}`);
  }

  remove(name: string): Promise<{ deleted: string }> {
    return this.call('DELETE', `/api/v1/functions/${encodeURIComponent(name)}${this.nsQuery}`);
  }
}

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

function apiError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return new ApiError(body.error.code, body.error.message ?? '', status);
  } catch {}
  // The OpenFaaS routes answer errors as plain text: `ERR_CODE: message`.
  const plain = /^(ERR_[A-Z_]+): (.*)$/s.exec(text.trim());
  if (plain) return new ApiError(plain[1]!, plain[2]!, status);
  return new ApiError('ERR_INTERNAL', `HTTP ${status}: ${text.slice(0, 200)}`, status);
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  if (res.status >= 400) throw apiError(res.status, text);
  return (text ? JSON.parse(text) : {}) as T;
}
