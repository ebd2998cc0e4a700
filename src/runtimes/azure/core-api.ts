// The host side of `@azure/functions`: the `@azure/functions-core` module the Azure Node.js worker provides
// at run time (registerFunction, registerHook, setProgrammingModel, log, Disposable), served to the app's
// own copy of the library by intercepting require() as the worker does. It records what the app registers;
// invoke-function.ts runs invocations through the programming model the library sets.
import Module from 'node:module';

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type LogCategory = 'user' | 'system' | 'customMetric';
export type FunctionCallback = (...args: unknown[]) => unknown;
export type HookCallback = (context: Record<string, unknown>) => unknown;

/** What registerFunction is given (the library's toCoreFunctionMetadata). */
export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, BindingInfo>;
  retryOptions?: unknown;
}

export interface BindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  [key: string]: unknown;
}

/** The library's ProgrammingModel and InvocationModel, as far as the worker calls them. */
export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: unknown): InvocationModel | Promise<InvocationModel>;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<InvocationResponse>;
}

export interface InvocationResponse {
  invocationId?: string | null;
  outputData?: { name?: string | null; data?: TypedData | null }[] | null;
  returnValue?: TypedData | null;
}

/** The worker protocol's RpcTypedData, the parts Nimbus produces and reads. */
export interface TypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  int?: number | null;
  double?: number | null;
  http?: HttpData | null;
}

export interface HttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: TypedData | null;
  params?: Record<string, string> | null;
  statusCode?: string | null;
  cookies?: HttpCookie[] | null;
}

export interface HttpCookie {
  name?: string | null;
  value?: string | null;
  domain?: { value?: string | null } | null;
  path?: { value?: string | null } | null;
  expires?: { value?: { seconds?: number | bigint | null; nanos?: number | null } | null } | null;
  secure?: { value?: boolean | null } | null;
  httpOnly?: { value?: boolean | null } | null;
  sameSite?: 'none' | 'lax' | 'strict' | 'explicitNone' | null;
  maxAge?: { value?: number | null } | null;
}

export interface RegisteredFunction {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

export const HOOK_NAMES = ['preInvocation', 'postInvocation', 'appStart', 'appTerminate', 'log'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** Where a log line goes: the runner prefixes it with the invocation it belongs to. */
export type LogSink = (
  level: LogLevel,
  category: LogCategory,
  message: string,
  invocationId?: string,
) => void;

/** The worker's version Nimbus reports (the library only checks that `log` exists). */
const WORKER_VERSION = '3.10.1';
const HOST_VERSION = '4.1037.0';

/** A resource released by `dispose()`, as the core module's class. */
export class Disposable {
  #dispose: (() => unknown) | undefined;

  constructor(callOnDispose: () => unknown) {
    this.#dispose = callOnDispose;
  }

  static from(...likes: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => {
      for (const like of likes) like.dispose();
    });
  }

  dispose(): unknown {
    const fn = this.#dispose;
    this.#dispose = undefined;
    return fn?.();
  }
}

/** One app's registrations and the core module handed to it. */
export class AzureCore {
  readonly #functions = new Map<string, RegisteredFunction>();
  readonly #hooks = new Map<HookName, HookCallback[]>(HOOK_NAMES.map((n) => [n, []]));
  readonly #sink: LogSink;
  #model: ProgrammingModel | undefined;
  #startupDone = false;
  /** Shared by every hook across scopes (the core API's `appHookData`). */
  readonly appHookData: Record<string, unknown> = {};
  /** The `hookData` of the app-level hooks (appStart, appTerminate), shared between them. */
  readonly appLevelHookData: Record<string, unknown> = {};
  /** The invocation contexts in flight, by invocation id (log hooks are given theirs). */
  readonly contexts = new Map<string, unknown>();

  constructor(sink: LogSink) {
    this.#sink = sink;
  }

  /** The functions registered, in registration order. */
  get functions(): RegisteredFunction[] {
    return [...this.#functions.values()];
  }

  get programmingModel(): ProgrammingModel | undefined {
    return this.#model;
  }

  hooks(name: HookName): readonly HookCallback[] {
    return this.#hooks.get(name)!;
  }

  /** After the app's files loaded: registering a function now is an error, as in Azure. */
  finishStartup(): void {
    this.#startupDone = true;
  }

  /** A log line from the app, the library or the worker; user lines pass the log hooks first. */
  log(level: LogLevel, category: LogCategory, message: string, invocationId?: string): void {
    let outLevel = level;
    let outMessage = message;
    const hooks = this.#hooks.get('log')!;
    if (hooks.length > 0) {
      const context: Record<string, unknown> = {
        hookData: {},
        appHookData: this.appHookData,
        invocationContext: invocationId === undefined ? undefined : this.contexts.get(invocationId),
        level,
        message,
        category,
      };
      for (const hook of hooks) {
        try {
          hook(context);
        } catch (err) {
          this.#sink('error', 'system', `a log hook threw: ${(err as Error)?.message ?? String(err)}`);
        }
      }
      if (category === 'user') {
        outLevel = context.level as LogLevel;
        outMessage = String(context.message);
      }
    }
    this.#sink(outLevel, category, outMessage, invocationId);
  }

  /** The object `require('@azure/functions-core')` returns. */
  module(): Record<string, unknown> {
    return {
      version: WORKER_VERSION,
      hostVersion: HOST_VERSION,
      Disposable,
      registerFunction: (metadata: FunctionMetadata, callback: FunctionCallback) =>
        this.#registerFunction(metadata, callback),
      registerHook: (name: string, callback: HookCallback) => this.#registerHook(name, callback),
      setProgrammingModel: (model: ProgrammingModel) => {
        this.#model = model;
      },
      getProgrammingModel: () => this.#model,
      log: (level: LogLevel, category: LogCategory, message: string) => this.log(level, category, message),
    };
  }

  #registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
    if (this.#startupDone) throw new Error('A function can only be registered during app startup.');
    if (typeof metadata?.name !== 'string' || typeof callback !== 'function')
      throw new Error('registerFunction needs metadata with a name and a function callback');
    const key = metadata.name.toLowerCase();
    if (this.#functions.has(key))
      throw new Error(
        `A function named "${metadata.name}" is already registered; function names must be unique`,
      );
    this.#functions.set(key, { metadata, callback });
    return new Disposable(() => {
      if (this.#startupDone) throw new Error('A function can only be disposed during app startup.');
      this.#functions.delete(key);
    });
  }

  #registerHook(name: string, callback: HookCallback): Disposable {
    const list = this.#hooks.get(name as HookName);
    // The library turns a RangeError into "Log hooks require Azure Functions Host v4.34 or higher".
    if (!list) throw new RangeError(`Unknown hook "${name}"`);
    if (typeof callback !== 'function') throw new TypeError(`the "${name}" hook must be a function`);
    list.push(callback);
    return new Disposable(() => {
      const i = list.indexOf(callback);
      if (i !== -1) list.splice(i, 1);
    });
  }
}

/** Serves `core` to every later `require('@azure/functions-core')` in this process, as the worker does. */
export function installCoreModule(core: AzureCore): void {
  const api = core.module();
  const proto = Module.prototype as unknown as { require: (id: string) => unknown };
  proto.require = new Proxy(proto.require, {
    apply(target, thisArg, args: [string]) {
      return args[0] === '@azure/functions-core' ? api : Reflect.apply(target, thisArg, args);
    },
  });
}
