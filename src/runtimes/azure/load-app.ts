// Loads an Azure Functions app the way the Azure Node.js worker does (the core module served, then every
// file package.json `main` names imported, each registering its functions), and describes what it
// registered in the terms of the `azure` spec key, with what is wrong with it or what Nimbus cannot run.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AzureLogLevel, functionFiles, readHostJson, readMain } from './app-files.js';
import {
  AzureCore,
  type BindingInfo,
  installCoreModule,
  type LogSink,
  type RegisteredFunction,
} from './core-api.js';

/** The library logs this line, and only this, when `app.setup({ enableHttpStream: true })` is called. */
const HTTP_STREAM_LOG = 'HTTP streaming enabled.';

export interface LoadedApp {
  core: AzureCore;
  dir: string;
  files: string[];
  routePrefix: string;
  logLevel: AzureLogLevel;
  /** The app asked for HTTP streaming (a proxy server of its own), which Nimbus does not provide. */
  httpStream: boolean;
}

/** Imports the app's function files with the core module in place. Throws what the app throws. */
export async function loadApp(dir: string, sink: LogSink): Promise<LoadedApp> {
  const host = readHostJson(dir);
  const files = functionFiles(dir, readMain(dir));
  let httpStream = false;
  const core = new AzureCore((level, category, message, invocationId) => {
    if (category === 'system' && message === HTTP_STREAM_LOG) httpStream = true;
    sink(level, category, message, invocationId);
  });
  installCoreModule(core);
  for (const file of files) await import(pathToFileURL(join(dir, file)).href);
  core.finishStartup();
  return { core, dir, files, routePrefix: host.routePrefix, logLevel: host.logLevel, httpStream };
}

/** A storage or Service Bus queue output binding: its messages go to a queue of the app. */
function isQueueOutput(binding: BindingInfo | undefined): boolean {
  const type = String(binding?.type).toLowerCase();
  return (
    binding?.direction === 'out' &&
    (type === 'queue' || type === 'servicebus') &&
    binding.queueName !== undefined
  );
}

/** The queue outputs of `fn`: binding name (`$return` for the return value) and queue name. */
export function queueOutputs(
  fn: RegisteredFunction,
  env: Record<string, string | undefined>,
  problems: Problems,
): { binding: string; queueName: string }[] {
  const out: { binding: string; queueName: string }[] = [];
  for (const [binding, info] of Object.entries(fn.metadata.bindings ?? {})) {
    if (!isQueueOutput(info)) continue;
    const queueName = appSetting(fn.metadata.name, info.queueName, 'queue name', env, problems);
    if (queueName !== undefined) out.push({ binding, queueName });
  }
  return out;
}

/** A binding value with `%NAME%` read from the app's settings; a missing one is a problem. */
function appSetting(
  name: string,
  value: unknown,
  what: string,
  env: Record<string, string | undefined>,
  problems: Problems,
): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') {
    problems.invalid.push(`function "${name}" needs a ${what}`);
    return undefined;
  }
  const missing: string[] = [];
  const resolved = value.replace(/%([^%\s]+)%/g, (_, key: string) => {
    const v = env[key];
    if (v === undefined) missing.push(key);
    return v ?? '';
  });
  if (missing.length > 0) {
    problems.invalid.push(
      `function "${name}": its ${what} names app setting ${missing.map((m) => `%${m}%`).join(', ')}, which is not set (add it to local.settings.json Values or nimbus.yml environment)`,
    );
    return undefined;
  }
  return resolved.trim();
}

/** A registered function as Nimbus serves it. */
export type TriggerInfo =
  | { kind: 'http'; route: string; methods: string[]; authLevel: string }
  | { kind: 'timer'; schedule: string; runOnStartup: boolean }
  | { kind: 'queue'; queueName: string };

/** What stands in the way, one sentence each: what is wrong with the app, and what Nimbus cannot run. */
export interface Problems {
  invalid: string[];
  unsupported: string[];
}

/** What an app registers, in the shape of the `azure` spec key (azure-spec.ts checks it at deploy). */
export interface AppSpec {
  routePrefix: string;
  http: { function: string; route: string; methods: string[]; authLevel: string }[];
  timers: { function: string; schedule: string; runOnStartup: boolean }[];
  queues: { function: string; queueName: string }[];
}

export interface DescribedApp {
  spec: AppSpec;
  problems: Problems;
}

/** Trigger types Nimbus has no counterpart for (Azure's type names). */
const QUEUE_TRIGGERS = new Set(['queuetrigger', 'servicebustrigger']);

/**
 * The `azure` spec of a loaded app. `%NAME%` in a schedule or queue name is read from `env`, as Azure
 * reads app settings into binding expressions.
 */
export function describeApp(app: LoadedApp, env: Record<string, string | undefined>): DescribedApp {
  const problems: Problems = { invalid: [], unsupported: [] };
  const spec: AppSpec = { routePrefix: app.routePrefix, http: [], timers: [], queues: [] };
  if (app.httpStream)
    problems.unsupported.push(
      'app.setup({ enableHttpStream: true }) asks for HTTP streaming, which Nimbus does not provide yet; remove it (responses are sent whole)',
    );
  if (app.core.functions.length === 0)
    problems.invalid.push(
      `the files package.json "main" names (${app.files.join(', ')}) register no function; call app.http(), app.timer(), … in them`,
    );
  const outputs: [string, string][] = [];
  for (const fn of app.core.functions) {
    for (const o of queueOutputs(fn, env, problems)) outputs.push([fn.metadata.name, o.queueName]);
    const trigger = triggerOf(fn, env, problems);
    if (!trigger) continue;
    const name = fn.metadata.name;
    if (trigger.kind === 'http')
      spec.http.push({
        function: name,
        route: trigger.route,
        methods: trigger.methods,
        authLevel: trigger.authLevel,
      });
    else if (trigger.kind === 'timer')
      spec.timers.push({ function: name, schedule: trigger.schedule, runOnStartup: trigger.runOnStartup });
    else spec.queues.push({ function: name, queueName: trigger.queueName });
  }
  for (const [fn, queueName] of outputs) {
    if (!spec.queues.some((q) => q.queueName.toLowerCase() === queueName.toLowerCase()))
      problems.unsupported.push(
        `function "${fn}" writes to queue "${queueName}", which no function of the app is triggered by (a Nimbus queue belongs to one app)`,
      );
  }
  return { spec, problems };
}

/** The trigger binding of a function (the one `in` binding whose type ends in "Trigger"). */
export function triggerBinding(fn: RegisteredFunction): [string, Record<string, unknown>] | undefined {
  for (const [name, binding] of Object.entries(fn.metadata.bindings ?? {})) {
    if (typeof binding?.type === 'string' && /trigger$/i.test(binding.type) && binding.direction === 'in')
      return [name, binding];
  }
  return undefined;
}

/** What triggers `fn`, or undefined (with the reason added to `problems`) when it cannot run. */
export function triggerOf(
  fn: RegisteredFunction,
  env: Record<string, string | undefined>,
  problems: Problems,
): TriggerInfo | undefined {
  const name = fn.metadata.name;
  const found = triggerBinding(fn);
  if (!found) {
    problems.invalid.push(`function "${name}" has no trigger binding`);
    return undefined;
  }
  const [, binding] = found;
  const type = String(binding.type).toLowerCase();
  for (const [bindingName, other] of Object.entries(fn.metadata.bindings)) {
    if (other === binding) continue;
    const otherType = String(other?.type).toLowerCase();
    const isHttpReturn = type === 'httptrigger' && otherType === 'http';
    if (!isHttpReturn && !isQueueOutput(other))
      problems.unsupported.push(
        `function "${name}" uses a ${other?.direction ?? ''} binding "${bindingName}" of type ${String(other?.type)}; Nimbus supports the HTTP response and queue outputs only`,
      );
  }
  const setting = (value: unknown, what: string) => appSetting(name, value, what, env, problems);
  if (type === 'httptrigger') {
    const methods = Array.isArray(binding.methods)
      ? binding.methods.map((m) => String(m).toUpperCase())
      : ['GET', 'POST'];
    return {
      kind: 'http',
      route: typeof binding.route === 'string' ? binding.route : name,
      methods,
      authLevel: String(binding.authLevel ?? 'anonymous').toLowerCase(),
    };
  }
  if (type === 'timertrigger') {
    const schedule = setting(binding.schedule, 'timer schedule');
    if (schedule === undefined) return undefined;
    const cron = timerSchedule(schedule);
    if (cron === undefined) {
      problems.unsupported.push(
        `function "${name}": schedule "${schedule}" is a TimeSpan Nimbus cannot map onto cron (use a six-field NCRONTAB expression such as "0 */5 * * * *")`,
      );
      return undefined;
    }
    return { kind: 'timer', schedule: cron, runOnStartup: binding.runOnStartup === true };
  }
  if (QUEUE_TRIGGERS.has(type)) {
    if (type === 'servicebustrigger' && binding.queueName === undefined) {
      problems.unsupported.push(
        `function "${name}" is triggered by a Service Bus topic, which Nimbus does not support (queues only: Nimbus's async queue stands for them)`,
      );
      return undefined;
    }
    const queueName = setting(binding.queueName, 'queue name');
    return queueName === undefined ? undefined : { kind: 'queue', queueName };
  }
  problems.unsupported.push(
    `function "${name}" is triggered by ${String(binding.type)}, which Nimbus does not support (supported: HTTP, timer, storage queue and Service Bus queue triggers)`,
  );
  return undefined;
}

/**
 * A timer schedule as croner reads it: an NCRONTAB expression as it is, or a TimeSpan (`hh:mm:ss`, the
 * App Service plan's interval form) as the cron expression of the same period when it divides a minute,
 * an hour or a day; undefined when it does not.
 */
export function timerSchedule(schedule: string): string | undefined {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(schedule);
  if (!m) return schedule;
  const seconds = Number(m[1] ?? 0) * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  if (seconds <= 0) return undefined;
  if (seconds < 60 && 60 % seconds === 0) return `*/${seconds} * * * * *`;
  if (seconds % 60 === 0 && seconds < 3600 && 60 % (seconds / 60) === 0) return `0 */${seconds / 60} * * * *`;
  if (seconds % 3600 === 0 && seconds < 86_400 && 24 % (seconds / 3600) === 0)
    return `0 0 */${seconds / 3600} * * *`;
  if (seconds === 86_400) return '0 0 0 * * *';
  return undefined;
}
