// Starts instances for pools: from a prewarmed stem cell when one fits, else a new process; every
// process holds its memory in the platform budget until it exits.

import { NimbusError } from '../errors.js';
import type { LaunchSpec } from '../runtimes/runtime.js';
import { type Evictable, MemoryBudget, type Victim } from '../scaler/budget.js';
import { Instance, type InstanceOptions } from './instance.js';
import type { InstanceSandbox, PreparedSandbox } from './instance-sandbox.js';
import type { LoadMessage } from './protocol.js';
import { mountSecrets, secretsDirOf } from './secret-files.js';
import { type LaunchShape, StemCells, shapeKey } from './stem-cells.js';

/** What of a function's spec shapes its instances (and their sandbox). */
export interface InstanceLimits {
  memoryMb: number;
  network: boolean;
  /** Fraction of a core; absent: no CPU limit. */
  cpu?: number | undefined;
  maxProcesses: number;
}

export interface LauncherOptions {
  runDir: string;
  startTimeoutMs: number;
  /** Instance processes starting (spawn to loaded) at once; the rest wait, stem cells after requests. */
  maxConcurrentStarts: number;
  memoryBudgetMb: number;
  stemCells: { min: number; max: number };
  /** Idle instances of the pools, for the memory budget to stop when full (after the stem cells). */
  evictable: Evictable;
  /** `callId`: the call the instance was serving when it wrote the line, when that is known (instance.ts). */
  onOutput: (
    fn: string,
    instanceId: string,
    line: string,
    stream: 'stdout' | 'stderr',
    callId: string | undefined,
  ) => void;
  onError: (message: string) => void;
  /** Sandbox every instance (bubblewrap, cgroups, seccomp as the host allows); absent or null: plain processes. */
  sandbox?: InstanceSandbox | null;
  /** Instance events worth a log line (`instance-oom`). */
  onEvent?: (event: { type: string; [key: string]: unknown }) => void;
  /** On close, how long to wait for the pools to stop their instances before stopping the rest. Default 15 s. */
  closeTimeoutMs?: number;
}

export class Launcher {
  readonly budget: MemoryBudget;
  readonly stems: StemCells | undefined;
  private counter = 0;
  /** The sandbox of each live instance. */
  private readonly sandboxes = new Map<Instance, PreparedSandbox>();
  private readonly live = new Set<Instance>();
  private readonly releases = new Set<Promise<void>>();

  constructor(private readonly options: LauncherOptions) {
    // Stem cells go first: they serve nobody yet.
    const evictable: Evictable = {
      nextVictim: (exclude) => this.stemVictim() ?? options.evictable.nextVictim(exclude),
    };
    this.budget = new MemoryBudget(options.memoryBudgetMb, evictable);
    this.starts = new StartLimiter(options.maxConcurrentStarts);
    this.stems =
      options.stemCells.max > 0
        ? new StemCells({
            makeInstance: (shape) => this.newInstance(shape, '(stem cell)', undefined, false),
            spawnCell: (cell) =>
              this.#started(
                cell,
                this.starts.run(() => cell.spawn().then(() => this.#egressReady(cell)), 'stem cell'),
              ),
            minPerShape: options.stemCells.min,
            maxPerShape: options.stemCells.max,
            idleShapeMs: 600_000,
            rateWindowMs: 60_000,
            onError: options.onError,
          })
        : undefined;
  }

  /** Bounds the starts running at once (a panic scale-up asks for dozens). */
  private readonly starts: StartLimiter;

  /** The most process starts (spawn up to the runner's hello) that ran at once so far. */
  get peakConcurrentStarts(): number {
    return this.starts.peak;
  }

  /** Where instance directories and sockets live. */
  get runDir(): string {
    return this.options.runDir;
  }

  /** Starts an instance of a function: specializes a stem cell of the same shape, or spawns a new process. */
  start(
    fnName: string,
    limits: InstanceLimits,
    launch: LaunchSpec,
  ): { instance: Instance; started: Promise<void> } {
    const shape = shapeOf(launch, limits);
    const output: InstanceOptions['onOutput'] = (line, stream, callId) =>
      this.options.onOutput(fnName, instance.id, line, stream, callId);
    const stem = this.stems?.take(shape);
    let instance: Instance;
    if (stem) {
      instance = stem;
      instance.adopt(fnName, output);
      return { instance, started: this.specialize(instance, launch.load, launch.secrets) };
    }
    try {
      instance = this.newInstance(shape, fnName, output);
    } catch (err) {
      if (err instanceof NimbusError) throw err;
      // The sandbox could not be built: it would fail the same way again, so say why now.
      throw new NimbusError('ERR_FUNCTION_UNAVAILABLE', [fnName, (err as Error).message], { cause: err });
    }
    const staged = this.sandboxes.get(instance)?.staged;
    // A slot is held while the process starts, not while the function's own code loads (as for a stem
    // cell): code whose init never ends would otherwise hold a slot until its start timeout, and a few such
    // functions every slot, so that no other function could start at all.
    const started = this.#started(
      instance,
      staged
        ? this.starts
            .run(() => instance.spawn(), 'instance')
            .then(() => this.specialize(instance, launch.load, launch.secrets))
        : this.starts
            .run(() => instance.spawn(), 'instance')
            .then(() =>
              instance.load(
                mountSecrets(instance.dir, launch.load, launch.secrets?.(), unsandboxed(instance)),
              ),
            ),
    );
    return { instance, started };
  }

  /** Attaches a spawned cell's egress (if its shape has one) and waits until it is up: a cell is offered ready. */
  async #egressReady(cell: Instance): Promise<void> {
    const prepared = this.sandboxes.get(cell);
    if (prepared) await this.options.sandbox?.egressReady(prepared);
  }

  /** A start that failed before its process ran (the launcher closed while it waited) leaves nothing behind. */
  #started(instance: Instance, start: Promise<void>): Promise<void> {
    return start.catch((err: Error) => {
      instance.kill(err.message);
      throw err;
    });
  }

  /** Keeps stem cells of this launch shape ready from now on. */
  prewarm(launch: LaunchSpec, limits: InstanceLimits): void {
    this.stems?.prewarm(shapeOf(launch, limits));
  }

  /** Loads a function into a spawned instance, its bundle and secrets first put where its sandbox sees them. */
  private async specialize(
    instance: Instance,
    load: LoadMessage,
    secrets: LaunchSpec['secrets'],
  ): Promise<void> {
    const prepared = this.sandboxes.get(instance);
    let message = load;
    try {
      if (prepared && this.options.sandbox)
        message = await this.options.sandbox.load(instance.dir, prepared, load);
      message = mountSecrets(
        instance.dir,
        message,
        secrets?.(),
        prepared?.staged
          ? { seenAt: prepared.secretsDir, runAs: this.options.sandbox?.runAs ?? null }
          : unsandboxed(instance),
      );
    } catch (err) {
      instance.kill(`its sandbox, bundle or secrets could not be readied: ${(err as Error).message}`);
      throw err;
    }
    await instance.load(message);
  }

  /** `evict: false` (stem cells): take only free room; requests come first, so nothing is evicted for a cell. */
  private newInstance(
    shape: LaunchShape,
    fnName: string,
    onOutput?: InstanceOptions['onOutput'],
    evict = true,
  ): Instance {
    const id = `i${(++this.counter).toString(36)}`;
    const sandbox = this.options.sandbox ?? null;
    const prepared = sandbox ? sandbox.prepare(id, shapeKey(shape), shape) : null;
    const instance = new Instance({
      id,
      name: fnName,
      runDir: this.options.runDir,
      command: prepared?.command ?? shape.command,
      args: prepared?.args ?? [...shape.args],
      env: prepared?.env ?? { ...shape.env },
      startTimeoutMs: this.options.startTimeoutMs,
      onOutput:
        onOutput ?? ((line, stream, callId) => this.options.onOutput(fnName, id, line, stream, callId)),
      memoryMb: shape.memoryMb,
      ...(sandbox && prepared
        ? {
            oomKilled: () => sandbox.oomKilled(prepared),
            extraPipes: prepared.extraPipes,
            ...(prepared.onSpawn ? { onSpawn: prepared.onSpawn } : {}),
            ...(sandbox.runAs ? { prepareSocket: (path: string) => sandbox.prepareSocket(path) } : {}),
          }
        : {}),
    });
    try {
      // Throws ERR_CAPACITY_EXHAUSTED when nothing can be evicted: the process is never spawned.
      this.budget.reserve(instance, shape.memoryMb, fnName, evict);
    } catch (err) {
      if (sandbox && prepared) void sandbox.release(prepared).catch(() => {});
      instance.kill('no room in the memory budget');
      throw err;
    }
    if (prepared) this.sandboxes.set(instance, prepared);
    this.live.add(instance);
    void instance.whenClosed.then(() => this.ended(instance));
    return instance;
  }

  /** A prewarmed stem cell to stop for room. */
  private stemVictim(): Victim | undefined {
    const cell = this.stems?.idleCells()[0];
    if (!cell) return undefined;
    return { holder: cell, lastUsedAt: 0, evict: () => this.stems!.discard(cell) };
  }

  /** An instance's process is gone: its memory goes back to the budget, its sandbox is swept. */
  private ended(instance: Instance): void {
    this.budget.release(instance);
    this.live.delete(instance);
    if (instance.outOfMemory) {
      this.options.onEvent?.({
        type: 'instance-oom',
        name: instance.name,
        instanceId: instance.id,
        reason: instance.exitReason,
      });
    }
    const prepared = this.sandboxes.get(instance);
    if (!prepared || !this.options.sandbox) return;
    this.sandboxes.delete(instance);
    const release = this.options.sandbox
      .release(prepared)
      .catch((err: Error) => this.options.onError(`instance ${instance.id}: ${err.message}`))
      .finally(() => this.releases.delete(release));
    this.releases.add(release);
  }

  /** Stops the stem cells, waits for the pools to stop their instances (bounded), then removes the sandboxes. */
  async close(): Promise<void> {
    this.starts.close();
    await this.stems?.close();
    if (this.live.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.live].map((i) => i.whenClosed)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.options.closeTimeoutMs ?? 15_000);
        }),
      ]);
      clearTimeout(timer);
      await Promise.all([...this.live].map((i) => i.stop('Nimbus is shutting down')));
    }
    await Promise.all([...this.releases]);
    await this.options.sandbox?.close().catch((err: Error) => this.options.onError(err.message));
  }
}

/** Where an instance loaded in place (no sandbox) finds its secrets: on the host. */
function unsandboxed(instance: Instance): { seenAt: string; runAs: null } {
  return { seenAt: secretsDirOf(instance.dir), runAs: null };
}

function shapeOf(launch: LaunchSpec, limits: InstanceLimits): LaunchShape {
  return {
    memoryMb: limits.memoryMb,
    command: launch.command,
    args: launch.args,
    env: launch.env,
    network: limits.network,
    cpu: limits.cpu ?? null,
    maxProcesses: limits.maxProcesses,
    readOnlyPaths: launch.readOnlyPaths ?? [],
    binds: launch.binds ?? [],
  };
}

/**
 * Runs instance starts at most `limit` at a time, each begun one event-loop turn after the last (a burst of
 * forks does not hold the loop in one go), instances for waiting requests before stem cells. Without a bound
 * a panic scale-up of dozens of instances on a couple of cores shares the CPU so evenly that every start
 * finishes late together: all pass the start timeout, are killed and started again, and none ever serves.
 * The start timeout runs from a start's own beginning, not from its wait here. A slot covers the process's
 * start up to its runner's hello: the function's own code loads outside it, so no function holds slots.
 */
class StartLimiter {
  #running = 0;
  #peak = 0;
  #closed = false;
  readonly #queues: Record<'instance' | 'stem cell', (() => void)[]> = { instance: [], 'stem cell': [] };
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The most starts that ran at once. */
  get peak(): number {
    return this.#peak;
  }

  run<T>(task: () => Promise<T>, kind: 'instance' | 'stem cell'): Promise<T> {
    return new Promise<void>((resolve, reject) => {
      if (this.#closed) reject(new Error('Nimbus is shutting down'));
      else {
        this.#queues[kind].push(() =>
          this.#closed ? reject(new Error('Nimbus is shutting down')) : resolve(),
        );
        this.#next();
      }
    }).then(async () => {
      try {
        return await task();
      } finally {
        this.#running--;
        this.#next();
      }
    });
  }

  /** Queued starts fail at once; running ones finish (or are stopped by the launcher). */
  close(): void {
    this.#closed = true;
    for (const queue of Object.values(this.#queues)) for (const wake of queue.splice(0)) wake();
  }

  #next(): void {
    if (this.#running >= this.#limit) return;
    const wake = this.#queues.instance.shift() ?? this.#queues['stem cell'].shift();
    if (wake === undefined) return;
    this.#running++;
    this.#peak = Math.max(this.#peak, this.#running);
    setImmediate(wake);
  }
}
