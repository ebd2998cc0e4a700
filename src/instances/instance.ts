// One instance: a child process running a language runner, reached over its own Unix socket with the
// instance protocol. Start races readiness against exit and a deadline; exit fails every open stream.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { NimbusError } from '../errors.js';
import type { StreamEnd } from './lease.js';
import { LineCapture } from './line-capture.js';
import { DEFAULT_OUTPUT_LIMITS, OutputLimiter, type OutputLimits } from './output-limit.js';
import type { PoolInstance } from './pool.js';
import {
  decodeFields,
  FLAG_END,
  FrameDecoder,
  FrameType,
  FrameWriter,
  type LoadMessage,
  PROTOCOL_VERSION,
} from './protocol.js';

export interface InstanceOptions {
  id: string;
  /** Function name, for messages and logs. */
  name: string;
  /** Directory for the instance's socket (short path: Unix socket paths are limited to ~107 bytes). */
  runDir: string;
  command: string;
  args: string[];
  /** The whole environment of the child: nothing of the platform's is inherited. */
  env: Record<string, string>;
  startTimeoutMs: number;
  /**
   * Each line the instance writes to stdout or stderr, with the call it was serving then (see #callOf):
   * undefined before its first call and while it serves several at once.
   */
  onOutput: (line: string, stream: 'stdout' | 'stderr', callId: string | undefined) => void;
  /** Output budget (lines and bytes per second); past it output is dropped and counted. Default DEFAULT_OUTPUT_LIMITS. */
  outputLimits?: OutputLimits;
  /** Called once the socket listens, before the process is spawned (a sandbox run as another user needs it handed over). */
  prepareSocket?: (socketPath: string) => void;
  /** Whether the kernel killed a process of the instance for its memory limit (its cgroup knows); asked when it exits. */
  oomKilled?: () => boolean;
  /** The instance's memory limit in MiB, for the out-of-memory error. */
  memoryMb?: number;
  /** Pipes the process gets beyond stdio 0–2 (fd 3, …), for its sandbox to report on. Default 0. */
  extraPipes?: number;
  /** Called with the process once spawned (its sandbox attaches egress then). */
  onSpawn?: (child: ChildProcess) => void;
}

/** What V8 prints when it dies at its heap limit (--max-old-space-size). */
const HEAP_OOM_MARK = 'JavaScript heap out of memory';
/** How a sandboxed process that aborted exits (bubblewrap passes on 128 + SIGABRT). */
const ABORT_EXIT_CODE = 134;
/** How long an aborted instance's stderr may take to drain before it counts as closed. */
const ABORT_DRAIN_MS = 200;
/** At most one "lines dropped" note per this many ms. */
const DROP_REPORT_MS = 1000;
/** The highest stream id before ids start over at 1 (ids of open streams are never reused). */
const MAX_STREAM_ID = 0xffff_fff0;

/** A status as a response head may carry it (the lease checks its range). */
const STATUS_TEXT = /^\d{1,4}$/;

/** What the runner sends on stream 0; parsed, never cast (the runner shares its process with user code). */
const HelloMessage = z.object({ protocol: z.number(), runtime: z.string().max(100) });
const LoadedMessage = z.object({ style: z.string().max(100) });
const ErrorMessage = z.object({
  message: z.string().catch('(no message)'),
  stack: z.string().optional().catch(undefined),
  code: z.string().optional().catch(undefined),
});

export type InstanceState = 'starting' | 'ready' | 'closed';

export class Instance implements PoolInstance {
  readonly id: string;
  /** The instance's private directory (its socket lives there). */
  readonly dir: string;
  /** Resolves once the process is gone. */
  readonly whenClosed: Promise<void>;
  #options: InstanceOptions;
  #state: InstanceState = 'starting';
  #exitReason: string | undefined;
  #style: string | undefined;
  #child: ChildProcess | undefined;
  #server: Server | undefined;
  #socket: Socket | undefined;
  #writer: FrameWriter | undefined;
  readonly #streams = new Map<number, StreamEnd>();
  /** The stream opened last: the call a line written between calls most likely belongs to. */
  #lastStream: StreamEnd | undefined;
  #nextStreamId = 1;
  readonly #stderrTail: string[] = [];
  #controlWaiter: ((type: number, payload: Buffer) => void) | undefined;
  readonly #socketPath: string;
  /** Rejects when the process fails to start or exits: every start phase races it. */
  readonly #exited: Promise<never>;
  #failStart: (err: Error) => void = () => {};
  #resolveClosed: () => void = () => {};
  /** Taken from the stem-cell pool: its process start happened before the request, so it is not init time. */
  #prewarmed = false;
  #outOfMemory = false;
  #heapExhausted = false;
  #spawnMs = 0;
  #loadMs = 0;
  #initMs = 0;

  constructor(options: InstanceOptions) {
    this.#options = options;
    this.id = options.id;
    this.dir = join(options.runDir, options.id);
    this.#socketPath = join(this.dir, 'sock');
    this.#exited = new Promise<never>((_, reject) => {
      this.#failStart = reject;
    });
    this.#exited.catch(() => {});
    this.whenClosed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The function it serves (a stem cell's changes when it is adopted). */
  get name(): string {
    return this.#options.name;
  }

  get state(): InstanceState {
    return this.#state;
  }

  /** Ready and not being stopped: may take requests. */
  get usable(): boolean {
    return this.#state === 'ready' && this.#exitReason === undefined;
  }

  /** Why the instance ended (or is ending); set once. */
  get exitReason(): string | undefined {
    return this.#exitReason;
  }

  /** The handler style the runner reported on LOADED. */
  get style(): string | undefined {
    return this.#style;
  }

  /** The instance died of its memory limit (cgroup OOM kill, or V8 at its heap cap). */
  get outOfMemory(): boolean {
    return this.#outOfMemory;
  }

  /** How long start + load took, in ms (load only for a prewarmed stem cell). */
  get initMs(): number {
    return this.#initMs;
  }

  /** ms to spawn the process and get its HELLO. */
  get spawnMs(): number {
    return this.#spawnMs;
  }

  /** ms to load the function. */
  get loadMs(): number {
    return this.#loadMs;
  }

  /** Spawns the runner and loads the function. Rejects with the reason the instance could not start. */
  async start(load: LoadMessage): Promise<void> {
    await this.spawn();
    await this.load(load);
  }

  /**
   * Starts the runner process and waits for its HELLO: the instance is then a generic "stem cell" with no
   * function loaded, ready for `load()`.
   */
  async spawn(): Promise<void> {
    const startedAt = performance.now();
    try {
      await this.#phase(async () => {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        const server = createServer({ noDelay: true } as object);
        this.#server = server;
        server.listen(this.#socketPath);
        await this.#raceExit(once(server, 'listening'));
        this.#options.prepareSocket?.(this.#socketPath);
        const connected = once(server, 'connection') as Promise<[Socket]>;
        this.#spawnChild();
        const [socket] = await this.#raceExit(connected);
        // One runner, one connection: nobody else may connect after it.
        server.close();
        rmSync(this.#socketPath, { force: true });
        this.#attach(socket);
        const hello = await this.#raceExit(this.#waitControl(FrameType.HELLO));
        const parsed = HelloMessage.safeParse(parseJson(hello.payload));
        if (!parsed.success) throw new Error('the runner sent an invalid HELLO');
        if (parsed.data.protocol !== PROTOCOL_VERSION) {
          throw new Error(
            `the ${parsed.data.runtime} runner speaks instance protocol ${parsed.data.protocol}; this Nimbus speaks ${PROTOCOL_VERSION}`,
          );
        }
      });
    } finally {
      this.#spawnMs = performance.now() - startedAt;
    }
  }

  /** Gives a prewarmed (stem cell) instance to a function: its name in messages and its output sink. */
  adopt(name: string, onOutput: InstanceOptions['onOutput']): void {
    this.#options = { ...this.#options, name, onOutput };
    this.#prewarmed = true;
  }

  /** Loads the function into a spawned runner (once per process). */
  async load(load: LoadMessage): Promise<void> {
    const startedAt = performance.now();
    await this.#phase(async () => {
      this.#writer!.json(FrameType.LOAD, 0, load);
      // Out now: a cold start waits on it, and the turn's other work (~3 ms of it) has nothing to batch with it.
      this.#writer!.flush();
      const reply = await this.#raceExit(this.#waitControl(FrameType.LOADED, FrameType.LOAD_ERROR));
      if (reply.type === FrameType.LOAD_ERROR) {
        throw new Error(errorMessage(reply.payload).message);
      }
      const loaded = LoadedMessage.safeParse(parseJson(reply.payload));
      if (!loaded.success) throw new Error('the runner sent an invalid LOADED');
      this.#style = loaded.data.style;
    });
    this.#loadMs = performance.now() - startedAt;
    this.#initMs = this.#loadMs + (this.#prewarmed ? 0 : this.#spawnMs);
    this.#state = 'ready';
  }

  /** Runs one start phase against the start deadline; on failure the instance is killed. */
  async #phase(work: () => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`did not start within ${this.#options.startTimeoutMs} ms`)),
        this.#options.startTimeoutMs,
      );
    });
    try {
      await Promise.race([work(), deadline]);
    } catch (err) {
      this.kill((err as Error).message);
      const tail = this.#stderrTail.join('\n');
      const message = (err as Error).message;
      throw new Error(tail && !message.includes(tail) ? `${message}\n${tail}` : message);
    } finally {
      clearTimeout(timer);
    }
  }

  #raceExit<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.#exited]);
  }

  #spawnChild(): void {
    const fail = this.#failStart;
    const { command, args, env } = this.#options;
    const child = spawn(command, args, {
      env: { ...env, NIMBUS_SOCKET: this.#socketPath },
      stdio: ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(this.#options.extraPipes ?? 0).fill('pipe')],
      // Its own process group, so a kill reaches every process the handler spawned.
      detached: true,
    });
    this.#child = child;
    this.#options.onSpawn?.(child);
    child.on('error', (err) => fail(new Error(`could not start ${command}: ${err.message}`)));
    // One budget for both streams: a flood is dropped (and counted) instead of filling the platform's memory.
    const limiter = new OutputLimiter(this.#options.outputLimits ?? DEFAULT_OUTPUT_LIMITS);
    let reportTimer: NodeJS.Timeout | undefined;
    const reportDropped = (): void => {
      reportTimer = undefined;
      const dropped = limiter.takeDropped();
      if (dropped) this.#options.onOutput(limiter.describe(dropped), 'stderr', undefined);
    };
    const scheduleReport = (): void => {
      reportTimer ??= setTimeout(reportDropped, DROP_REPORT_MS);
      reportTimer.unref();
    };
    const out = new LineCapture((line) => {
      if (limiter.admitLine()) this.#options.onOutput(line, 'stdout', this.#callOf());
      else scheduleReport();
    });
    const errs = new LineCapture((line) => {
      if (this.#state === 'starting') {
        this.#stderrTail.push(line);
        if (this.#stderrTail.length > 20) this.#stderrTail.shift();
      }
      if (line.includes(HEAP_OOM_MARK)) this.#heapExhausted = true;
      if (limiter.admitLine()) this.#options.onOutput(line, 'stderr', this.#callOf());
      else scheduleReport();
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      if (limiter.admitChunk(chunk)) out.push(chunk);
      else scheduleReport();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (limiter.admitChunk(chunk)) errs.push(chunk);
      else scheduleReport();
    });
    child.on('exit', (code, signal) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        out.end();
        errs.end();
        clearTimeout(reportTimer);
        reportDropped();
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        fail(new Error(`the instance exited during start (${how})`));
        this.#closed(this.#exitReason ?? how);
      };
      // An abort (V8 at its heap limit): its last words on stderr may still be in the pipe, and they say
      // whether it ran out of memory. Wait for them, briefly (a grandchild may hold the pipe open).
      const aborted = signal === 'SIGABRT' || code === ABORT_EXIT_CODE;
      if (!aborted || child.stderr!.readableEnded) return finish();
      const timer = setTimeout(finish, ABORT_DRAIN_MS);
      child.stderr!.once('end', () => {
        clearTimeout(timer);
        finish();
      });
    });
  }

  /**
   * The call a line of output belongs to: the one open stream's, or with none open the last one's (its
   * output may arrive on the pipe after its answer on the socket). Lines written while several calls run
   * at once cannot be told apart: they carry none. Asked per line of output, never per request.
   */
  #callOf(): string | undefined {
    const open = this.#streams.size;
    if (open > 1) return undefined;
    const stream = open === 1 ? this.#streams.values().next().value : this.#lastStream;
    return stream?.callId;
  }

  #attach(socket: Socket): void {
    this.#socket = socket;
    this.#writer = new FrameWriter(socket);
    const decoder = new FrameDecoder((type, flags, id, payload) => this.#onFrame(type, flags, id, payload));
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        this.kill(`protocol error: ${(err as Error).message}`);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.kill('the instance closed its connection'));
  }

  #waitControl(...types: number[]): Promise<{ type: number; payload: Buffer }> {
    return new Promise((resolve) => {
      this.#controlWaiter = (type, payload) => {
        if (types.includes(type)) {
          this.#controlWaiter = undefined;
          resolve({ type, payload });
        }
      };
    });
  }

  #onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (id === 0) {
      this.#controlWaiter?.(type, Buffer.from(payload));
      return;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    const end = (flags & FLAG_END) !== 0;
    switch (type) {
      case FrameType.RESPONSE: {
        if (end) this.#streams.delete(id);
        const fields = decodeFields(payload);
        // Digits only: Number() would also take ' 200', '200.5' or '0x12c'.
        const text = fields.shift()!;
        const status = STATUS_TEXT.test(text) ? Number(text) : Number.NaN;
        stream.head(status, fields, end);
        break;
      }
      case FrameType.RESPONSE_BODY:
        if (end) this.#streams.delete(id);
        stream.body(payload, end);
        break;
      case FrameType.WINDOW:
        if (payload.length !== 4) {
          this.kill(`protocol error: a WINDOW frame of ${payload.length} bytes`);
          return;
        }
        stream.window(payload.readUInt32BE(0));
        break;
      case FrameType.ERROR: {
        this.#streams.delete(id);
        const { message, stack, code } = errorMessage(payload);
        const err =
          code === 'invalid_response'
            ? new NimbusError('ERR_HANDLER_INVALID_RESPONSE', [this.#options.name, message])
            : new NimbusError('ERR_HANDLER_FAILED', [this.#options.name, message], {
                cause: { message, stack },
              });
        stream.error(err, stack);
        break;
      }
    }
  }

  /**
   * Opens a request stream: sends the head (NUL-separated method, path?query, header pairs) with `flags`
   * (FLAG_END: no body; FLAG_RAW_EVENT). Returns the stream id, or undefined when the instance is gone.
   */
  open(end: StreamEnd, head: string, flags: number): number | undefined {
    if (this.#state === 'closed') return undefined;
    const id = this.#nextStreamId++;
    if (this.#nextStreamId > MAX_STREAM_ID) this.#nextStreamId = 1;
    this.#streams.set(id, end);
    this.#lastStream = end;
    this.#writer!.text(FrameType.REQUEST, flags, id, head);
    return id;
  }

  sendBody(id: number, chunk: Uint8Array, end: boolean): void {
    if (this.#streams.has(id)) this.#writer!.bytes(FrameType.REQUEST_BODY, end ? FLAG_END : 0, id, chunk);
  }

  sendWindow(id: number, bytes: number): void {
    if (this.#streams.has(id)) this.#writer!.window(id, bytes);
  }

  /** The caller is gone: forget the stream and tell the runner. */
  cancel(id: number): void {
    if (!this.#streams.delete(id)) return;
    this.#writer!.bytes(FrameType.CANCEL, FLAG_END, id, EMPTY);
  }

  /** Stops the instance and every process it started. Open streams fail with `reason`. */
  kill(reason: string): void {
    this.#exitReason ??= reason;
    const child = this.#child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
    this.#socket?.destroy();
    this.#server?.close();
    if (!child || child.pid === undefined) this.#closed(reason);
  }

  /** Resolves once the process has exited. */
  async stop(reason: string): Promise<void> {
    if (this.#state === 'closed') return;
    const child = this.#child;
    const exited = child && child.exitCode === null && child.signalCode === null ? once(child, 'exit') : null;
    this.kill(reason);
    if (exited) await exited;
  }

  #closed(reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#exitReason ??= reason;
    // Sweep what the runner left in its process group (a handler's background children).
    if (this.#child?.pid !== undefined) {
      try {
        process.kill(-this.#child.pid, 'SIGKILL');
      } catch {}
    }
    rmSync(this.dir, { recursive: true, force: true });
    // Its connection closing may have named a reason first; running out of memory is the cause.
    this.#outOfMemory = this.#heapExhausted || (this.#options.oomKilled?.() ?? false);
    const memoryMb = this.#options.memoryMb ?? '?';
    if (this.#outOfMemory) this.#exitReason = `out of memory: past its ${memoryMb} MiB limit`;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) {
      stream.error(
        this.#outOfMemory
          ? new NimbusError('ERR_INSTANCE_OOM', [this.#options.name, memoryMb])
          : new NimbusError('ERR_INSTANCE_CRASHED', [this.#options.name, this.#exitReason]),
      );
    }
    this.#resolveClosed();
  }
}

const EMPTY = new Uint8Array(0);

/** The {message, stack?, code?} of an ERROR or LOAD_ERROR frame, whatever the runner sent. */
function errorMessage(payload: Buffer): z.infer<typeof ErrorMessage> {
  const parsed = ErrorMessage.safeParse(parseJson(payload));
  return parsed.success ? parsed.data : { message: '(the runner sent an unreadable error)' };
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
