// `npm run bench`: Nimbus against a bare node:http server, side by side in one run — warm throughput and
// latency, cold start from zero, memory — printed, and written as a dated section of docs/benchmarks.md;
// then the parts of parts-run.ts (stem cells, scale-up, idle cost, keep-alive, instance protocol), each in
// its own section. BENCH_ONLY=warm,cold,scale,idle,keepalive,protocol,sandbox picks parts (default: all).
// Every process and temp dir it makes is removed at the end, on failure, on SIGINT/SIGTERM and past a deadline.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NimbusClient } from '../src/cli/client.js';
import { BenchChild } from './bench-child.js';
import { writeRunSection } from './benchmarks-doc.js';
import { measureColdStarts, timedFetch } from './cold-start.js';
import { findInstance } from './find-instance.js';
import { deployBenchFunction } from './functions.js';
import { type BenchOptions, benchDeadlineMs, readBenchOptions } from './options.js';
import type { PartContext } from './part-context.js';
import { partsDeadlineMs, readPartOptions } from './parts.js';
import { runParts } from './parts-run.js';
import { type Pinning, setUpPinning } from './pinning.js';
import { descendants, memoryMb, startTicks, treeMemoryMb, treePssMb } from './proc.js';
import { type BenchResults, renderSection, TARGETS, verdicts } from './report.js';
import { type LoadTarget, measureThroughput } from './throughput.js';
import { workerdBinary } from './workerd/install.js';

const DOC_PATH = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

const WORK_DIR_PREFIX = 'nimbus-bench-';
/** Holds the pid of the bench run that owns a work dir. */
const OWNER_FILE = 'owner.pid';

const children: BenchChild[] = [];
/** When each child started (clock ticks): its pid names it only while that still matches. */
const childStarts = new Map<BenchChild, number | undefined>();
/** Processes seen under the platform (pid → start time): killed if the platform could not stop them itself. */
const platformProcesses = new Map<number, number>();
let workDir: string | undefined;
let cleaning: Promise<void> | undefined;

const progress = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

function rememberProcesses(pids: readonly number[]): void {
  for (const pid of pids) {
    const started = startTicks(pid);
    if (started !== undefined) platformProcesses.set(pid, started);
  }
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    // Every Nimbus (the warm path's, and those the other parts start) and every protocol gateway, while
    // its pid is still that process (a child stopped earlier may have had its pid reused).
    for (const c of children) {
      if (!c.name.startsWith('nimbus') && !c.name.startsWith('protocol-') && c.name !== 'workerd') continue;
      const started = childStarts.get(c);
      if (started !== undefined && startTicks(c.pid) === started) rememberProcesses(descendants(c.pid));
    }
    await Promise.allSettled(children.map((c) => c.stop()));
    for (const [pid, started] of platformProcesses) {
      // The same pid and start time: still that process, not one that reused its pid.
      if (startTicks(pid) !== started) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}

async function startChild(
  ...args: Parameters<typeof BenchChild.start>
): Promise<{ child: BenchChild; ready: Record<string, unknown> }> {
  const started = await BenchChild.start(...args);
  children.push(started.child);
  childStarts.set(started.child, startTicks(started.child.pid));
  return started;
}

function localDate(now: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** The commit measured, marked when src/ has uncommitted changes. */
function sourceRevision(): string {
  const git = (...args: string[]): string =>
    spawnSync('git', args, {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD');
  if (!commit) return 'unknown revision';
  return git('status', '--porcelain', '--', 'src', 'scripts') ? `${commit} + uncommitted changes` : commit;
}

/** Work dirs of bench runs that were killed (SIGKILL leaves no chance to clean up): removed on the next run. */
function removeStaleWorkDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(WORK_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue;
    }
    try {
      process.kill(owner, 0);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function bench(): Promise<void> {
  const options = readBenchOptions(process.env);
  const partOptions = readPartOptions(process.env);
  const pinning = setUpPinning();
  progress(pinning.description);
  removeStaleWorkDirs();
  workDir = mkdtempSync(join(tmpdir(), WORK_DIR_PREFIX));
  writeFileSync(join(workDir, OWNER_FILE), String(process.pid));
  // The platform's own temp files (instance sockets) go under the work dir, so they go with it.
  const platformTmp = join(workDir, 'tmp');
  mkdirSync(platformTmp);

  if (partOptions.parts.has('warm')) await warmPath(options, pinning, workDir, platformTmp);
  const ctx: PartContext = {
    workDir,
    pinning,
    bench: options,
    parts: partOptions,
    run: { date: localDate(new Date()), machine: machineDescription(), revision: sourceRevision() },
    progress,
    startChild,
    rememberProcesses,
  };
  await runParts(ctx, DOC_PATH, options.writeDoc);
}

function machineDescription(): string {
  return `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Linux ${release()}, Node ${process.versions.node}`;
}

/** The warm path (BENCH_ONLY=warm): throughput and latency against bare node:http, cold start, memory. */
async function warmPath(
  options: BenchOptions,
  pinning: Pinning,
  workDir: string,
  platformTmp: string,
): Promise<void> {
  const coldInitMs: number[] = [];
  let recordColdInit = false;
  const workerd = workerdBinary(process.env, progress);
  if ('skipped' in workerd) progress(`no workerd row: ${workerd.skipped}`);
  const peer =
    'path' in workerd
      ? await startChild({
          name: 'workerd',
          script: 'workerd-server.mjs',
          args: [workerd.path],
          core: pinning.serverCore,
        })
      : undefined;
  const [bare, nimbus, load, floor] = await Promise.all([
    startChild({ name: 'bare', script: 'bare-server.mjs', core: pinning.serverCore }),
    startChild({
      name: 'nimbus',
      script: 'nimbus-server.mjs',
      args: [join(workDir, 'data')],
      core: pinning.serverCore,
      env: { TMPDIR: platformTmp },
      onEvent: (event) => {
        if (event.type === 'instance-start-failed') progress(`instance start failed: ${String(event.error)}`);
        if (recordColdInit && event.type === 'instance-ready' && event.name === 'cold')
          coldInitMs.push(Number(event.initMs));
      },
    }),
    startChild({ name: 'load', script: 'load-generator.mjs', core: pinning.loadCore }),
    startChild({ name: 'spawn-floor', script: 'spawn-floor.mjs', core: pinning.serverCore }),
  ]);
  const client = new NimbusClient(String(nimbus.ready.url), String(nimbus.ready.token));
  progress('building and deploying the bench functions');
  const helloUrl = `${client.baseUrl}/function/hello`;
  await deployBenchFunction(client, workDir, 'hello');
  await timedFetch(helloUrl);
  const described = (await client.get('hello')) as { processes?: { pid?: number }[] };
  const instance = await findInstance(
    nimbus.child.pid,
    () => load.child.call('run', { url: helloUrl, connections: 32, seconds: 1 }, 30_000),
    described.processes?.length === 1 ? described.processes[0]!.pid : undefined,
  );
  rememberProcesses(instance.pids);
  await deployBenchFunction(client, workDir, 'hello-defaults');
  await deployBenchFunction(client, workDir, 'cold');
  // The three functions deployed and nothing else asked of them: what an idle platform holds.
  const deployedPids = [nimbus.child.pid, ...descendants(nimbus.child.pid)];
  const deployed = {
    ...treeMemoryMb(deployedPids)!,
    processes: deployedPids.length,
    pssMb: treePssMb(deployedPids)?.pssMb ?? Number.NaN,
  };

  const targets: LoadTarget[] = [
    { key: 'bare', url: `${String(bare.ready.url)}/function/hello`, serverPid: bare.child.pid },
    { key: 'nimbus', url: helloUrl, serverPid: nimbus.child.pid },
    {
      key: 'hello-defaults',
      url: `${client.baseUrl}/function/hello-defaults`,
      serverPid: nimbus.child.pid,
      connections: [Math.max(...options.connections)],
    },
    ...(peer
      ? [{ key: 'workerd', url: `${String(peer.ready.url)}/function/hello`, serverPid: peer.child.pid }]
      : []),
  ];
  const throughput = await measureThroughput(load.child, targets, options, pinning, progress);

  // Memory right after the load, before the cold starts churn processes.
  const instanceAfter = treeMemoryMb(instance.pids);
  const instancePss = treePssMb(instance.pids);
  if (!instanceAfter || !instancePss) throw new Error('the hello instance was replaced during the load');
  const nimbusPids = [nimbus.child.pid, ...descendants(nimbus.child.pid)];
  const memory = {
    platform: memoryMb(nimbus.child.pid)!,
    nimbusTree: {
      ...treeMemoryMb(nimbusPids)!,
      processes: nimbusPids.length,
      pssMb: treePssMb(nimbusPids)?.pssMb ?? Number.NaN,
    },
    deployed,
    freshInstance: instance.memoryBefore,
    instance: instanceAfter,
    instancePss,
    bare: memoryMb(bare.child.pid)!,
  };

  recordColdInit = true;
  const cold = await measureColdStarts(
    { client, platformPid: nimbus.child.pid, floor: floor.child, pinning, progress },
    'cold',
    options.coldStarts,
  );
  recordColdInit = false;

  const results: BenchResults = {
    date: localDate(new Date()),
    machine: machineDescription(),
    revision: sourceRevision(),
    pinning: pinning.description,
    options,
    throughput,
    cold,
    coldInitMs,
    memory,
  };
  const section = renderSection(results);
  process.stdout.write(`\n${section}\n`);
  const v = verdicts(results);
  process.stdout.write(
    `targets: c32 ≥ ${TARGETS.c32ThroughputRatioMin}× bare: ${v.c32Ratio.toFixed(2)}×; ` +
      `c1 ≥ ${TARGETS.c1ThroughputRatioMin}×: ${v.c1Ratio.toFixed(2)}×; ` +
      `c1 p50 added ≤ ${TARGETS.c1AddedP50UsMax} µs: ${Math.round(v.c1AddedP50Us)} µs; ` +
      `defaults c32 ≥ ${TARGETS.defaultsC32RatioMin}×: ${v.defaultsC32Ratio.toFixed(2)}×; ` +
      `warm instance ≤ ${TARGETS.warmInstanceRssMbMax} MB: ${v.instanceRssMb.toFixed(1)} MB\n`,
  );
  if (options.writeDoc) {
    writeRunSection(DOC_PATH, results.date, section);
    progress(`wrote the ${results.date} section of docs/benchmarks.md`);
  }
  // The parts after this one pin their own servers to the same core: these have done their work.
  rememberProcesses(descendants(nimbus.child.pid));
  await Promise.all([bare, nimbus, load, floor, ...(peer ? [peer] : [])].map((c) => c.child.stop()));
}

async function main(): Promise<number> {
  let stopReason: { message: string; exitCode: number } | undefined;
  try {
    const options = readBenchOptions(process.env);
    const deadlineMs =
      benchDeadlineMs(options, 3) +
      partsDeadlineMs(readPartOptions(process.env), options.seconds, options.rounds);
    const stopped = new Promise<void>((resolve) => {
      const stop = (message: string, exitCode: number) => () => {
        stopReason ??= { message, exitCode };
        resolve();
      };
      process.once('SIGINT', stop('interrupted (SIGINT)', 130));
      process.once('SIGTERM', stop('terminated (SIGTERM)', 143));
      setTimeout(stop(`did not finish within ${Math.round(deadlineMs / 1000)} s`, 1), deadlineMs).unref();
    });
    const running = bench();
    // Once stopped, the run fails as its processes go away: that is expected, not news.
    running.catch(() => {});
    await Promise.race([running, stopped]);
    if (stopReason) {
      progress(`stopped: ${stopReason.message}`);
      return stopReason.exitCode;
    }
    return 0;
  } catch (err) {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exit(await main());
