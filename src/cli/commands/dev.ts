// `nimbus dev [DIR]`: the inner loop. Uses the local gateway the CLI finds (or starts one in this process),
// deploys the folder (or every function of a stack file with -f), rebuilds and redeploys on every save —
// the old version drains while the new one takes calls — prints build errors without stopping, and prints
// the function's log lines with the call each belongs to. Ctrl-C stops what it started, nothing else.
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { z } from 'zod';
import { type BuiltFunction, buildFunction } from '../../build/build.js';
import { readDeployFile } from '../../build/deploy-file.js';
import { buildStackFunction, type StackFunction } from '../../build/stack.js';
import { assertFunctionName } from '../../config/function-spec.js';
import {
  configFromEnv,
  loadPlatformConfig,
  type PlatformConfigInput,
  readConfigFile,
} from '../../config/platform.js';
import { NimbusError } from '../../errors.js';
import { NimbusClient } from '../client.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { gatewayAnswers, type LocalGateway, startLocalGateway } from '../local-gateway.js';
import { errorLine, formatBytes, note, step } from '../output.js';
import { terminalText } from '../terminal-text.js';
import { watchTree } from '../watch-tree.js';
import { buildOptions, uploadWithProgress } from './deploy.js';

const { json: _json, ...GATEWAY_OPTIONS } = CLIENT_OPTIONS;

export const devCommand: Command = {
  summary: 'deploy a function folder and redeploy it on every save, printing its logs',
  usage:
    'nimbus dev [DIR] [--name NAME] | nimbus dev -f stack.yml|serverless.yml|template.yaml [NAME...]  [--port 8080] [--host 127.0.0.1] [--data .nimbus] [--config FILE] [--sandbox auto|required|off]',
  options: {
    ...GATEWAY_OPTIONS,
    name: { type: 'string' },
    file: { type: 'string', short: 'f' },
    host: { type: 'string' },
    port: { type: 'string' },
    config: { type: 'string' },
    sandbox: { type: 'string' },
  },
  async run(values, positionals) {
    const session = new DevSession(values, positionals);
    return session.run();
  },
};

/** One function to build: a folder, or an entry of a stack file (read again on every rebuild). */
type Target = { kind: 'dir'; dir: string; name?: string } | { kind: 'stack'; fn: StackFunction };

/** Events of the gateway dev started worth a line (instances starting and stopping show the swap). */
const EVENT_TYPES = new Set([
  'instance-ready',
  'instance-start-failed',
  'instance-exit',
  'instance-oom',
  'internal-error',
]);

class DevSession {
  readonly #values: Record<string, unknown>;
  readonly #positionals: string[];
  #client: NimbusClient | undefined;
  #gateway: LocalGateway | undefined;
  #stopWatching: (() => void) | undefined;
  /** Log streams followed, by function name. */
  readonly #follows = new Map<string, AbortController>();
  #building: Promise<void> | undefined;
  #again = false;
  #stopping = false;
  #finish: (code: number) => void = () => {};

  constructor(values: Record<string, unknown>, positionals: string[]) {
    this.#values = values;
    this.#positionals = positionals;
  }

  async run(): Promise<number> {
    const file = this.#values.file as string | undefined;
    if (file === undefined && this.#positionals.length > 1)
      throw new NimbusError('ERR_CLI_USAGE', ['name one folder: nimbus dev functions/hello']);
    const dir = resolve(this.#positionals[0] ?? '.');
    if (file === undefined && !isDirectory(dir))
      throw new NimbusError('ERR_CLI_USAGE', [`${dir} is not a folder; name the function's folder`]);
    const roots = file ? this.#stackRoots(file) : [dir];
    // Read once before anything starts: a folder or stack file that is not there is a usage error now.
    this.#targets();

    const done = new Promise<number>((resolve) => {
      this.#finish = resolve;
    });
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.#stopping) {
        process.stderr.write(`nimbus dev: ${signal} again, exiting now\n`);
        process.exit(130);
      }
      void this.#stop(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    try {
      this.#client = await this.#connect();
    } catch (err) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      throw err;
    }
    if (this.#stopping) return done;
    await this.#rebuild();
    if (this.#stopping) return done;
    const dataDir = this.#gateway?.platform.config.dataDir;
    const stops = roots.map((root) =>
      watchTree(root, (paths) => this.#changed(paths), {
        ...(dataDir ? { ignore: [dataDir] } : {}),
        onError: (err) => note(`watching ${root} failed: ${err.message}`),
      }),
    );
    this.#stopWatching = () => {
      for (const stop of stops) stop();
    };
    note(
      `watching ${roots.map((r) => relative(process.cwd(), r) || '.').join(', ')} for changes (Ctrl-C stops)`,
    );
    const code = await done;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return code;
  }

  /** The folders to watch for a stack file: its own, and each function's folder outside it. */
  #stackRoots(file: string): string[] {
    const base = dirname(resolve(file));
    const roots = [base];
    for (const target of this.#targets()) {
      if (target.kind !== 'stack') continue;
      const dir = target.fn.dir;
      if (!roots.some((r) => dir === r || !relative(r, dir).startsWith('..'))) roots.push(dir);
    }
    return roots;
  }

  #targets(): Target[] {
    const file = this.#values.file as string | undefined;
    if (file) {
      const { functions } = readDeployFile(file, {
        only: this.#positionals,
        warn: (message) => note(`warning: ${message}`),
      });
      return functions.map((fn) => ({ kind: 'stack', fn }));
    }
    const dir = resolve(this.#positionals[0] ?? '.');
    const name = this.#values.name as string | undefined;
    return [{ kind: 'dir', dir, ...(name !== undefined ? { name } : {}) }];
  }

  /** The gateway the CLI finds (flags, environment, the data dir's gateway.json) when it answers; else a new one. */
  async #connect(): Promise<NimbusClient> {
    const values = this.#values;
    const explicit = values.url !== undefined || process.env.NIMBUS_URL !== undefined;
    const found = clientFrom(values);
    const announced = explicit || found.baseUrl !== DEFAULT_GUESS;
    if (announced && (await gatewayAnswers(found))) {
      note(`using the Nimbus at ${found.baseUrl} (it keeps running after nimbus dev stops)`);
      return found;
    }
    if (explicit) throw new NimbusError('ERR_CLI_UNREACHABLE', [found.baseUrl, 'no answer on /healthz']);
    const flags: PlatformConfigInput = {};
    if (values.host !== undefined) flags.host = values.host as string;
    if (values.port !== undefined) flags.port = Number(values.port);
    if (values.data !== undefined) flags.dataDir = values.data as string;
    if (values.sandbox !== undefined) flags.sandbox = values.sandbox as PlatformConfigInput['sandbox'];
    const file = values.config ? readConfigFile(values.config as string) : {};
    const config = loadPlatformConfig(file, configFromEnv(process.env), flags);
    const gateway = await startLocalGateway(config, {
      output() {},
      event: (event) => {
        if (EVENT_TYPES.has(event.type)) note(describeEvent(event));
      },
    });
    this.#gateway = gateway;
    const { platform } = gateway;
    note(`Nimbus listening on ${platform.url} (data: ${config.dataDir}; stops with nimbus dev)`);
    note(platform.sandbox.summary);
    if (platform.tokenCreated) note(`admin token stored in ${config.dataDir}/admin-token`);
    return new NimbusClient(platform.url, platform.token, found.namespace);
  }

  #changed(paths: string[]): void {
    if (this.#stopping) return;
    const shown = paths.slice(0, 3).join(', ') + (paths.length > 3 ? `, +${paths.length - 3} more` : '');
    note(`changed: ${shown}`);
    void this.#rebuild();
  }

  /** Builds and deploys every target; a change during a build runs one more after it. */
  #rebuild(): Promise<void> {
    if (this.#building) {
      this.#again = true;
      return this.#building;
    }
    this.#building = (async () => {
      do {
        this.#again = false;
        let targets: Target[];
        try {
          targets = this.#targets();
        } catch (err) {
          note(`✗ ${errorLine(err)}`);
          continue;
        }
        for (const target of targets) {
          if (this.#stopping) return;
          await this.#deployOne(target);
        }
      } while (this.#again && !this.#stopping);
    })().finally(() => {
      this.#building = undefined;
    });
    return this.#building;
  }

  async #deployOne(target: Target): Promise<void> {
    const client = this.#client!;
    const label =
      target.kind === 'dir' ? (target.name ?? (relative(process.cwd(), target.dir) || '.')) : target.fn.name;
    const startedAt = performance.now();
    const startedAtMs = Date.now();
    let built: BuiltFunction | undefined;
    try {
      const options = buildOptions();
      built = await step(`building ${label}`, () =>
        target.kind === 'dir'
          ? buildFunction(target.dir, { ...options, ...(target.name ? { name: target.name } : {}) })
          : buildStackFunction(target.fn, options),
      );
      assertFunctionName(built.name);
      const bytes = await uploadWithProgress(client, built);
      const fn = await client.deploy(built.name, built.hash, built.spec);
      // Followed before the URL is printed: a call made as soon as it shows has its lines printed.
      await this.#follow(fn.name, startedAtMs);
      const ms = Math.round(performance.now() - startedAt);
      if (fn.changed) {
        const size = bytes > 0 ? `, ${formatBytes(bytes)} uploaded` : '';
        note(`✓ deployed ${fn.name} v${fn.version} in ${ms} ms${size}: ${fn.url}`);
      } else note(`✓ ${fn.name} v${fn.version} is unchanged: ${fn.url}`);
    } catch (err) {
      if (this.#stopping) return;
      note(`✗ ${label}: ${errorLine(err)}`);
      if (err instanceof NimbusError && err.code === 'ERR_CLI_UNREACHABLE' && !this.#gateway)
        note('the gateway nimbus dev was using is gone; start it again (nimbus up) and save a file to retry');
    } finally {
      if (built) await rmQuiet(built.bundleDir);
    }
  }

  /**
   * Prints the function's log lines from `sinceMs` on, each with the call it belongs to, until dev stops.
   * Resolves once the gateway follows them (so a call made after it is printed), or following failed.
   */
  #follow(name: string, sinceMs: number): Promise<void> {
    if (this.#follows.has(name)) return Promise.resolve();
    const abort = new AbortController();
    this.#follows.set(name, abort);
    const client = this.#client!;
    const connected = client.logs(
      name,
      { since: new Date(sinceMs).toISOString(), follow: true },
      abort.signal,
    );
    void (async () => {
      try {
        const res = await connected;
        const decoder = new TextDecoder();
        let pending = '';
        for await (const chunk of res.body ?? []) {
          pending += decoder.decode(chunk as Uint8Array, { stream: true });
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) if (line) printLogLine(name, line);
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        note(`${name}: the log stream failed: ${errorLine(err)}`);
      } finally {
        // Followed again after the next deploy (the gateway ends followers when it stops).
        if (this.#follows.get(name) === abort) this.#follows.delete(name);
      }
    })();
    return connected.then(
      () => {},
      () => {},
    );
  }

  async #stop(signal: string): Promise<void> {
    this.#stopping = true;
    note(`${signal}: stopping`);
    this.#stopWatching?.();
    for (const abort of this.#follows.values()) abort.abort();
    this.#follows.clear();
    // A build in flight finishes first (npm and pip are not left running behind dev).
    await this.#building;
    if (this.#gateway) {
      note('stopping the gateway nimbus dev started');
      await this.#gateway.stop();
    }
    note('stopped');
    this.#finish(0);
  }
}

/** The URL clientFrom falls back to when nothing names a gateway: not a sign one runs. */
const DEFAULT_GUESS = clientFrom({}, {}).baseUrl;

function describeEvent(event: { type: string; [key: string]: unknown }): string {
  return terminalText(eventText(event));
}

function eventText(event: { type: string; [key: string]: unknown }): string {
  const name = String(event.name ?? '');
  switch (event.type) {
    case 'instance-ready':
      return `· ${name}: instance ${String(event.instanceId)} ready (${Number(event.initMs).toFixed(0)} ms)`;
    case 'instance-exit':
      return `· ${name}: instance ${String(event.instanceId)} stopped: ${String(event.reason)}`;
    case 'instance-start-failed':
      return `✗ ${name}: an instance could not start: ${String(event.error)}`;
    case 'internal-error':
      return `✗ ${String(event.message)} on ${String(event.request)}\n${String(event.stack)}`;
    default:
      return `✗ ${name}: ${event.type} ${JSON.stringify(event)}`;
  }
}

/** One line of /system/logs (NDJSON). */
const LogLine = z.object({ instance: z.string(), text: z.string(), callId: z.string().optional() });

/** `hello[call 5e0c…] text`, or `hello[instance i3] text` for a line of no one call. */
function printLogLine(name: string, line: string): void {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return;
  }
  const entry = LogLine.safeParse(value);
  if (!entry.success) return;
  const { callId, instance, text } = entry.data;
  process.stdout.write(
    terminalText(`${name}[${callId !== undefined ? `call ${callId}` : `instance ${instance}`}] ${text}`) +
      '\n',
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function rmQuiet(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}
