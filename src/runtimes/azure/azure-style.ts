// The Azure Functions handler style of the Node.js runner (`handlerStyle: azure`): the instance loads the app
// with its own `@azure/functions` and maps each request onto one of its functions: an HTTP route below the
// route prefix, a queue message (`/queues/{queueName}`), or a timer or manual run (`/admin/functions/{name}`,
// Azure's own admin route, which cron uses). Logs of an invocation carry its id (Nimbus's call id).

import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../../errors.js';
import type {
  HttpCookie,
  HttpData,
  InvocationResponse,
  LogLevel,
  RegisteredFunction,
  TypedData,
} from './core-api.js';
import { type InvocationRequest, invokeFunction, runAppStartHooks } from './invoke-function.js';
import {
  type AppSpec,
  describeApp,
  type LoadedApp,
  loadApp,
  queueOutputs,
  type TriggerInfo,
  triggerBinding,
} from './load-app.js';
import {
  belowPrefix,
  comparePrecedence,
  matchRoute,
  parseRouteTemplate,
  type RouteTemplate,
} from './route-template.js';

/** The file `nimbus deploy` writes into the bundle: the `azure` spec it found (the instance checks it). */
export const AZURE_MANIFEST = '.nimbus-azure.json';

/** A whole response: head (status, name, value, …) and body. */
export interface AzureAnswer {
  head: string[];
  body: Buffer;
}

const LEVEL_RANK: Record<LogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};
const LEVEL_LABEL: Record<LogLevel, string> = {
  trace: 'Trace',
  debug: 'Debug',
  information: 'Information',
  warning: 'Warning',
  error: 'Error',
  critical: 'Critical',
  none: 'None',
};
const UNSAFE = /[\0\r\n]/;
const COOKIE_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

interface HttpRoute {
  fn: RegisteredFunction;
  triggerName: string;
  template: RouteTemplate;
  methods: ReadonlySet<string>;
}

interface OtherFunction {
  fn: RegisteredFunction;
  triggerName: string;
  trigger: Exclude<TriggerInfo, { kind: 'http' }>;
}

/** Writes one log line per line of `message`, prefixed with the invocation id and the level. */
function writeLog(level: LogLevel, message: string, invocationId: string | undefined): void {
  const prefix = `${invocationId === undefined ? '' : `${invocationId} `}[${LEVEL_LABEL[level]}] `;
  const text = `${prefix}${message.replace(/\r?\n/g, `\n${prefix}`)}\n`;
  (LEVEL_RANK[level] >= LEVEL_RANK.warning ? process.stderr : process.stdout).write(text);
}

export class AzureApp {
  readonly #app: LoadedApp;
  readonly #fnName: string;
  readonly #routes: HttpRoute[];
  readonly #others = new Map<string, OtherFunction>();
  readonly #queues = new Map<string, OtherFunction>();
  readonly #minRank: number;
  /** Per function (lower-case name): its queue outputs. */
  readonly #outputs = new Map<string, { binding: string; queueName: string }[]>();

  private constructor(app: LoadedApp, fnName: string, spec: AppSpec) {
    this.#app = app;
    this.#minRank = LEVEL_RANK[app.logLevel];
    this.#fnName = fnName;
    const byName = new Map(app.core.functions.map((f) => [f.metadata.name.toLowerCase(), f]));
    for (const fn of app.core.functions) {
      const outputs = queueOutputs(fn, process.env, { invalid: [], unsupported: [] });
      if (outputs.length > 0) this.#outputs.set(fn.metadata.name.toLowerCase(), outputs);
    }
    this.#routes = spec.http
      .map((h) => {
        const fn = byName.get(h.function.toLowerCase())!;
        return {
          fn,
          triggerName: triggerBinding(fn)![0],
          template: parseRouteTemplate(h.route),
          methods: new Set(h.methods),
        };
      })
      .sort((a, b) => comparePrecedence(a.template, b.template));
    for (const t of spec.timers) {
      const fn = byName.get(t.function.toLowerCase())!;
      const trigger = { kind: 'timer' as const, schedule: t.schedule, runOnStartup: t.runOnStartup };
      this.#others.set(t.function.toLowerCase(), { fn, triggerName: triggerBinding(fn)![0], trigger });
    }
    for (const q of spec.queues) {
      const fn = byName.get(q.function.toLowerCase())!;
      const other = {
        fn,
        triggerName: triggerBinding(fn)![0],
        trigger: { kind: 'queue' as const, queueName: q.queueName },
      };
      this.#others.set(q.function.toLowerCase(), other);
      this.#queues.set(q.queueName.toLowerCase(), other);
    }
  }

  /**
   * Loads the app in `bundleDir` and checks it registers what `nimbus deploy` found (the gateway asks for
   * keys by that list, so an app that registers otherwise at run time must not serve).
   */
  static async load(bundleDir: string, fnName: string): Promise<AzureApp> {
    // host.json's level applies to the functions' own lines; the library's and worker's show from warning up.
    const levels = { user: LEVEL_RANK.information };
    const app = await loadApp(bundleDir, (level, category, message, invocationId) => {
      const floor = category === 'user' ? levels.user : LEVEL_RANK.warning;
      if (level !== 'none' && LEVEL_RANK[level] >= floor) writeLog(level, message, invocationId);
    });
    levels.user = LEVEL_RANK[app.logLevel];
    const { spec, problems } = describeApp(app, process.env);
    const all = [...problems.invalid, ...problems.unsupported];
    if (all.length > 0) throw new Error(all.join('; '));
    // The spec the deploy found is only compared with (the instance serves what it found itself).
    let built: unknown;
    try {
      built = JSON.parse(readFileSync(join(bundleDir, AZURE_MANIFEST), 'utf8'));
    } catch (err) {
      throw new Error(
        `${AZURE_MANIFEST} is missing or invalid (deploy the app with nimbus deploy): ${(err as Error).message}`,
      );
    }
    if (canonical(spec) !== canonical(built))
      throw new Error(
        `the app registered other functions than when it was deployed (now ${JSON.stringify(spec)}); registrations must not depend on anything but the app's settings`,
      );
    await runAppStartHooks(app.core, bundleDir);
    return new AzureApp(app, fnName, spec);
  }

  /** Serves one request (its head fields and whole body). */
  async handle(fields: readonly string[], body: Buffer): Promise<AzureAnswer> {
    const method = fields[0]!;
    const target = fields[1]!;
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const headers = headerRecord(fields);
    // The gateway's call id comes last (a client may send one of its own, which must not name the logs).
    const invocationId = lastField(fields, 'x-call-id') ?? randomUUID();

    const admin = /^\/admin\/functions\/([^/]+)\/?$/i.exec(path);
    if (admin) {
      const other = this.#others.get(decodeSegment(admin[1]!).toLowerCase());
      if (!other) return notFound(method, path, 'no timer or queue function of that name');
      if (method !== 'POST')
        return errorAnswer(new NimbusError('ERR_METHOD_NOT_ALLOWED', [method, path]), [['allow', 'POST']]);
      const answer = await this.#runOther(other, invocationId, headers, body, true);
      return { head: ['202', ...answer.head.slice(1)], body: answer.body };
    }
    const queue = /^\/queues\/([^/]+)\/?$/i.exec(path);
    const queued = queue ? this.#queues.get(decodeSegment(queue[1]!).toLowerCase()) : undefined;
    if (queued) {
      if (method !== 'POST')
        return errorAnswer(new NimbusError('ERR_METHOD_NOT_ALLOWED', [method, path]), [['allow', 'POST']]);
      return this.#runOther(queued, invocationId, headers, body, false);
    }
    const below = belowPrefix(path, this.#app.routePrefix);
    if (below !== undefined) {
      for (const route of this.#routes) {
        if (!route.methods.has(method)) continue;
        const params = matchRoute(route.template, below);
        if (params) return this.#runHttp(route, params, method, target, headers, body, invocationId);
      }
    }
    return notFound(method, path, 'no function of the app has that route and method');
  }

  async #runHttp(
    route: HttpRoute,
    params: Record<string, string>,
    method: string,
    target: string,
    headers: Record<string, string>,
    body: Buffer,
    invocationId: string,
  ): Promise<AzureAnswer> {
    const proto = headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
    const http: HttpData = {
      method,
      url: `${proto}://${headers.host ?? 'localhost'}/function/${this.#fnName}${target}`,
      headers,
      params,
      ...(body.length > 0 ? { body: { bytes: body } } : {}),
    };
    const response = await this.#invoke(
      route.fn,
      invocationId,
      'This function was programmatically called via the host APIs.',
      {
        invocationId,
        inputData: [{ name: route.triggerName, data: { http } }],
      },
    );
    return httpAnswer(response);
  }

  async #runOther(
    other: OtherFunction,
    invocationId: string,
    headers: Record<string, string>,
    body: Buffer,
    manual: boolean,
  ): Promise<AzureAnswer> {
    const request: InvocationRequest = { invocationId, inputData: [] };
    let reason: string;
    if (other.trigger.kind === 'timer') {
      const scheduled = headers['x-nimbus-scheduled-time'];
      const now = new Date().toISOString();
      reason = scheduled
        ? `Timer fired at ${now}`
        : 'This function was programmatically called via the host APIs.';
      const timer = {
        Schedule: { AdjustForDST: true },
        ScheduleStatus: scheduled
          ? { Last: scheduled, Next: headers['x-nimbus-next-time'] ?? null, LastUpdated: now }
          : null,
        IsPastDue: headers['x-nimbus-catch-up'] === 'true',
      };
      request.inputData.push({ name: other.triggerName, data: { json: JSON.stringify(timer) } });
    } else {
      // Azure's admin route takes `{"input": "<message>"}`; the queue route takes the message as the body.
      const message = manual ? adminInput(body) : body;
      reason = `New queue message detected on '${other.trigger.queueName}'.`;
      const data: TypedData = isUtf8(message) ? { string: message.toString('utf8') } : { bytes: message };
      const insertion = Number(headers['x-start-time']?.slice(0, -6));
      request.inputData.push({ name: other.triggerName, data });
      request.triggerMetadata = {
        Id: { string: invocationId },
        DequeueCount: { int: Math.max(1, Number(headers['x-nimbus-attempt']?.split(',').at(-1)) || 1) },
        InsertionTime: {
          string: new Date(
            Number.isFinite(insertion) && insertion > 0 ? insertion : Date.now(),
          ).toISOString(),
        },
        QueueTrigger: data,
      };
    }
    const response = await this.#invoke(other.fn, invocationId, reason, request);
    return valueAnswer(response.returnValue);
  }

  /**
   * What a function wrote to its queue outputs, queued as async calls to this app's queue routes (through
   * the gateway, with the function's own key), as Azure writes output bindings once a function succeeded.
   */
  async #sendQueueOutputs(fn: RegisteredFunction, response: InvocationResponse): Promise<void> {
    const outputs = this.#outputs.get(fn.metadata.name.toLowerCase());
    if (!outputs) return;
    for (const { binding, queueName } of outputs) {
      const data =
        binding === '$return'
          ? response.returnValue
          : response.outputData?.find((o) => o.name === binding)?.data;
      for (const message of queueMessages(data)) await this.#enqueue(queueName, message);
    }
  }

  async #enqueue(queueName: string, message: { body: Buffer | string; type: string }): Promise<void> {
    const gateway = process.env.NIMBUS_URL;
    if (!gateway) throw new Error(`cannot write to queue "${queueName}": NIMBUS_URL is not set`);
    const url = `${gateway}/async-function/${encodeURIComponent(this.#fnName)}/queues/${encodeURIComponent(queueName)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': message.type,
          ...(process.env.NIMBUS_KEY ? { authorization: `Bearer ${process.env.NIMBUS_KEY}` } : {}),
        },
        body: message.body,
      });
    } catch (err) {
      throw new Error(
        `cannot write to queue "${queueName}": the gateway is not reachable (${(err as Error).message}; a function with network: false cannot)`,
      );
    }
    if (res.status !== 202)
      throw new Error(
        `cannot write to queue "${queueName}": ${res.status} ${(await res.text()).slice(0, 300)}`,
      );
    await res.arrayBuffer().catch(() => {});
  }

  /** One invocation, between the Executing and Executed lines Azure logs around it. */
  async #invoke(
    fn: RegisteredFunction,
    invocationId: string,
    reason: string,
    request: InvocationRequest,
  ): Promise<InvocationResponse> {
    const name = `Functions.${fn.metadata.name}`;
    // The host's own lines: not passed to the app's log hooks, shown at the functions' level.
    const log = (message: string, level: LogLevel = 'information'): void => {
      if (LEVEL_RANK[level] >= this.#minRank && level !== 'none') writeLog(level, message, invocationId);
    };
    log(`Executing '${name}' (Reason='${reason}', Id=${invocationId})`);
    const started = performance.now();
    try {
      const response = await invokeFunction(this.#app.core, fn, request);
      await this.#sendQueueOutputs(fn, response);
      log(
        `Executed '${name}' (Succeeded, Id=${invocationId}, Duration=${Math.round(performance.now() - started)}ms)`,
      );
      return response;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      log(
        `Executed '${name}' (Failed, Id=${invocationId}, Duration=${Math.round(performance.now() - started)}ms)`,
        'error',
      );
      log(e.stack ?? e.message, 'error');
      throw e;
    }
  }
}

/** JSON with object keys sorted, so that two values compare by content. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The messages of a queue output: an array is several, as in Azure; strings as text, the rest as JSON. */
function queueMessages(data: TypedData | null | undefined): { body: Buffer | string; type: string }[] {
  if (!data) return [];
  const text = (value: unknown) =>
    typeof value === 'string'
      ? { body: value, type: 'text/plain; charset=utf-8' }
      : { body: JSON.stringify(value), type: 'application/json' };
  if (typeof data.string === 'string') return [text(data.string)];
  if (data.bytes) return [{ body: Buffer.from(data.bytes), type: 'application/octet-stream' }];
  if (typeof data.json === 'string') {
    const value = JSON.parse(data.json) as unknown;
    return (Array.isArray(value) ? value : [value]).map(text);
  }
  if (typeof data.int === 'number') return [text(data.int)];
  if (typeof data.double === 'number') return [text(data.double)];
  return [];
}

/** The last value of header `name` in the head fields. */
function lastField(fields: readonly string[], name: string): string | undefined {
  for (let i = fields.length - 2; i >= 2; i -= 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Request headers as one record (repeated headers joined, as a Headers object joins them). */
function headerRecord(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 2; i < fields.length; i += 2) {
    const name = fields[i]!.toLowerCase();
    const value = fields[i + 1]!;
    const had = out[name];
    out[name] = had === undefined ? value : `${had}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out;
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The message of an admin call: the body's `input` string (Azure's shape), else the body as it is. */
function adminInput(body: Buffer): Buffer {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && 'input' in parsed) {
      const input = (parsed as { input: unknown }).input;
      return Buffer.from(typeof input === 'string' ? input : JSON.stringify(input ?? ''));
    }
  } catch {}
  return body;
}

function errorAnswer(err: NimbusError, extra: [string, string][] = []): AzureAnswer {
  return {
    head: [String(err.status), 'content-type', 'application/json; charset=utf-8', ...extra.flat()],
    body: Buffer.from(JSON.stringify(err.toJSON())),
  };
}

function notFound(method: string, path: string, why: string): AzureAnswer {
  return errorAnswer(new NimbusError('ERR_AZURE_ROUTE_NOT_FOUND', [method, path.slice(0, 200), why]));
}

/** The HTTP response the model produced; none (the handler returned nothing) is 204, as in Functions 2.x+. */
function httpAnswer(response: InvocationResponse): AzureAnswer {
  let http: HttpData | null | undefined = response.returnValue?.http;
  for (const output of response.outputData ?? []) http ??= output.data?.http;
  if (!http) return { head: ['204'], body: Buffer.alloc(0) };
  const status = Number(http.statusCode ?? 200);
  if (!Number.isInteger(status) || status < 100 || status > 999)
    throw invalidResponse(`status ${String(http.statusCode)} is not an HTTP status`);
  const head = [String(status)];
  for (const [name, value] of Object.entries(http.headers ?? {})) {
    if (UNSAFE.test(name) || UNSAFE.test(String(value)))
      throw invalidResponse(`header "${name}" holds a line break or NUL`);
    head.push(name.toLowerCase(), String(value));
  }
  for (const cookie of http.cookies ?? []) head.push('set-cookie', serializeCookie(cookie));
  return { head, body: bodyBytes(http.body) };
}

/** A trigger's return value as a response body (Azure keeps it; Nimbus shows it in the call's record). */
function valueAnswer(value: TypedData | null | undefined): AzureAnswer {
  if (!value) return { head: ['200'], body: Buffer.alloc(0) };
  if (typeof value.string === 'string')
    return { head: ['200', 'content-type', 'text/plain; charset=utf-8'], body: Buffer.from(value.string) };
  if (typeof value.json === 'string')
    return { head: ['200', 'content-type', 'application/json'], body: Buffer.from(value.json) };
  if (value.bytes)
    return { head: ['200', 'content-type', 'application/octet-stream'], body: Buffer.from(value.bytes) };
  if (value.int !== undefined && value.int !== null)
    return { head: ['200', 'content-type', 'application/json'], body: Buffer.from(String(value.int)) };
  if (value.double !== undefined && value.double !== null)
    return { head: ['200', 'content-type', 'application/json'], body: Buffer.from(String(value.double)) };
  return { head: ['200'], body: Buffer.alloc(0) };
}

function bodyBytes(data: TypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes.buffer, data.bytes.byteOffset, data.bytes.byteLength);
  if (typeof data.string === 'string') return Buffer.from(data.string);
  if (typeof data.json === 'string') return Buffer.from(data.json);
  return Buffer.alloc(0);
}

/** A Set-Cookie value from the library's cookie (its value percent-encoded, as the library's stream mode does). */
function serializeCookie(cookie: HttpCookie): string {
  const name = String(cookie.name ?? '');
  if (!COOKIE_NAME_RE.test(name)) throw invalidResponse(`cookie name "${name.slice(0, 80)}" is not a token`);
  let out = `${name}=${encodeURIComponent(String(cookie.value ?? ''))}`;
  const attr = (label: string, value: unknown): void => {
    if (value === undefined || value === null || value === '') return;
    if (/[;\0\r\n]/.test(String(value)))
      throw invalidResponse(`cookie "${name}": ${label} holds ";" or a line break`);
    out += `; ${label}=${String(value)}`;
  };
  attr('Domain', cookie.domain?.value);
  attr('Path', cookie.path?.value);
  const seconds = cookie.expires?.value?.seconds;
  if (seconds !== undefined && seconds !== null)
    out += `; Expires=${new Date(Number(seconds) * 1000).toUTCString()}`;
  if (cookie.maxAge?.value !== undefined && cookie.maxAge.value !== null)
    attr('Max-Age', Math.floor(cookie.maxAge.value));
  if (cookie.secure?.value) out += '; Secure';
  if (cookie.httpOnly?.value) out += '; HttpOnly';
  const sameSite = { lax: 'Lax', strict: 'Strict', explicitNone: 'None' }[String(cookie.sameSite) as 'lax'];
  if (sameSite) out += `; SameSite=${sameSite}`;
  return out;
}

/** An error the runner reports as ERR_HANDLER_INVALID_RESPONSE. */
function invalidResponse(message: string): Error {
  return Object.assign(new Error(message), { code: 'invalid_response' });
}
