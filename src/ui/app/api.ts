// Calls to the Nimbus API from the browser: same origin, the signed-in key as a Bearer token, answers checked
// against their schema, errors (`{"error":{code,message}}`, or OpenFaaS's plain `CODE: message`) as ApiError.
import type * as z from 'zod/mini';
import { errorBodySchema } from './schemas.js';

export class ApiError extends Error {
  /** The platform's error code (ERR_…), or empty when the answer carried none. */
  readonly code: string;
  /** HTTP status; 0 when Nimbus could not be reached. */
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

export class Api {
  readonly #key: string;
  /** Called when the key stops being valid (revoked): the dashboard signs out. */
  readonly #onUnauthorized: () => void;

  constructor(key: string, onUnauthorized: () => void = () => {}) {
    this.#key = key;
    this.#onUnauthorized = onUnauthorized;
  }

  /** The Authorization header value for this session. */
  get authorization(): string {
    return `Bearer ${this.#key}`;
  }

  async get<S extends z.ZodMiniType>(path: string, schema: S): Promise<z.infer<S>> {
    return this.send('GET', path, undefined, schema);
  }

  async send<S extends z.ZodMiniType>(
    method: string,
    path: string,
    body: unknown,
    schema: S,
  ): Promise<z.infer<S>> {
    const res = await this.fetch(path, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    let value: unknown;
    try {
      value = await res.json();
    } catch {
      throw new ApiError('', `${method} ${path} answered something that is not JSON`, res.status);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(
        '',
        `${method} ${path} answered an unexpected shape (${issue?.path.join('.') || 'top'}: ${issue?.message ?? '?'})`,
        res.status,
      );
    }
    return parsed.data;
  }

  /** A request with the session's key; a non-2xx answer throws ApiError. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', this.authorization);
    let res: Response;
    try {
      res = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new ApiError('', `cannot reach Nimbus: ${(err as Error).message}`, 0);
    }
    if (res.ok) return res;
    const error = await errorOf(res);
    if (res.status === 401 && error.code !== 'ERR_FUNCTION_PRIVATE') this.#onUnauthorized();
    throw error;
  }
}

/** The coded error of a failed answer, in either of the shapes Nimbus answers with. */
export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) return new ApiError(parsed.data.error.code, parsed.data.error.message, res.status);
  } catch {
    // not JSON: OpenFaaS's plain-text shape below
  }
  const plain = /^(ERR_[A-Z0-9_]+): ([\s\S]*)$/.exec(text.trim());
  if (plain) return new ApiError(plain[1]!, plain[2]!, res.status);
  return new ApiError('', `HTTP ${res.status}${text ? `: ${text.slice(0, 300)}` : ''}`, res.status);
}

/** `?a=1&b=2` from the entries that are set. */
export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined) search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}
