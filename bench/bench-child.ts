// A helper process of the bench: started (pinned) with an IPC channel, readiness raced against exit and
// a deadline, called with request/reply messages, and always stopped — asked first, then killed.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { pinnedCommand } from './pinning.js';

export interface BenchChildOptions {
  /** For messages: `bare`, `nimbus`, ... */
  name: string;
  /** Script under bench/children/. */
  script: string;
  args?: string[];
  /** Core to pin to (undefined: not pinned). */
  core: number | undefined;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Unsolicited `{type: 'event'}` messages. */
  onEvent?: (event: Record<string, unknown>) => void;
}

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;

export class BenchChild {
  readonly name: string;
  readonly pid: number;
  private readonly child: ChildProcess;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (err: Error) => void }
  >();
  private nextId = 1;
  private exited = false;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    this.pid = child.pid!;
  }

  /** Starts the child and resolves with its ready message once it sent one. */
  static async start(
    options: BenchChildOptions,
  ): Promise<{ child: BenchChild; ready: Record<string, unknown> }> {
    const script = fileURLToPath(new URL(`./children/${options.script}`, import.meta.url));
    const [command, args] = pinnedCommand(options.core, process.execPath, [script, ...(options.args ?? [])]);
    const proc = spawn(command, args, {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (proc.pid === undefined) {
      const [err] = (await once(proc, 'error')) as [Error];
      throw new Error(`could not start the ${options.name} process: ${err.message}`);
    }
    const child = new BenchChild(options.name, proc);
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${options.name} did not get ready within ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      proc.on('message', (message: Record<string, unknown>) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve(message);
        } else if (message.type === 'event') {
          options.onEvent?.(message.event as Record<string, unknown>);
        } else if (typeof message.id === 'number') {
          child.settle(message as unknown as Reply);
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        child.exited = true;
        const err = new Error(`the ${options.name} process exited (${signal ?? `code ${code}`})`);
        reject(err);
        for (const { reject: fail } of child.pending.values()) fail(err);
        child.pending.clear();
      });
    });
    try {
      return { child, ready: await ready };
    } catch (err) {
      await child.stop();
      throw err;
    }
  }

  private settle(reply: Reply): void {
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (reply.error !== undefined) waiter.reject(new Error(`${this.name}: ${reply.error}`));
    else waiter.resolve(reply.result);
  }

  /** Asks the child to do `op` and waits for its answer (at most `timeoutMs`). */
  call<T>(op: string, args: unknown, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`the ${this.name} process is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} did not answer "${op}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.child.send({ id, op, args });
    });
  }

  /** Asks the child to close; past the grace period SIGTERM, then SIGKILL. Resolves once it exited. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = once(this.child, 'exit').then(() => true);
    const within = (ms: number): Promise<boolean> =>
      Promise.race([exited, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
    if (this.child.connected) this.child.send({ id: 0, op: 'close' });
    if (await within(STOP_GRACE_MS)) return;
    this.child.kill('SIGTERM');
    if (await within(KILL_WAIT_MS)) return;
    this.child.kill('SIGKILL');
    await within(KILL_WAIT_MS);
  }
}
