// docs/benchmarks.md: a fixed intro on method, then one section per run date, newest first. A run
// replaces the section of its own date and keeps the others; sections it does not write (another
// bench's `## ...`) are kept as they are, after the dated runs.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const RUN_MARK = /^<!-- bench-run (\d{4}-\d{2}-\d{2}) -->$/;

export const INTRO = `# Benchmarks

\`npm run bench\` builds Nimbus and measures it against a bare \`node:http\` server answering the same
"hello" in the same run, so the figures below are ratios first and absolute numbers second.

How it is measured:

- **Pinning.** The bare server and the Nimbus platform each run in their own child process pinned to
  core 0 with \`taskset -c 0\`; function instances inherit that affinity. The load generator and the
  bench itself run on core 1. Without \`taskset\` or with a single core nothing is pinned, and the
  section says so. The load generator is wrk (\`wrk -t1\`, Debian's package) when it is installed, else
  autocannon 8 (\`BENCH_LOAD_GENERATOR=autocannon\` forces it); each section names the one it used.
  autocannon is JavaScript: against bare node:http at 32 connections it runs out of core first (bare
  then measured ~29k requests/s where wrk drove it to ~42k on the same machine, 2026-12-05), which
  flatters the c32 ratio a lot; a run flags a generator past 90% of its core.
- **Warm path.** After a short warm-up, each server is driven at 1 and 32 connections for
  \`BENCH_SECONDS\` (default 5) per measurement, over \`BENCH_ROUNDS\` (default 3) rounds in which the
  two servers alternate (the order flips every round). Each figure is the median over the rounds;
  ratios and added latency are taken between medians, and the per-round range is shown beside them.
  Latency is recorded per request at 1 µs resolution on the client (wrk's histogram, or ours around
  autocannon). Server CPU per request is the
  CPU time of the whole serving process tree (platform plus instances) from \`/proc\`, divided by
  the requests served.
- **Noise.** When anything else (or the hypervisor) takes more than 10% of either pinned core during
  a measurement or a cold-start sample, it is repeated, twice at most; the least disturbed attempt
  is kept and the section flags it.
- **Functions.** \`hello\` runs one warm instance with \`concurrency: 64\` (the design the targets
  are about); \`hello-defaults\` is the same code with the spec defaults (concurrency by handler style,
  80 for this fetch handler since 2026-12-05, 1 before; up to 10 instances), shown at 32 connections for
  what an unconfigured function gets.
- **Peers.** When the bench can install it (once, from the npm registry into
  \`~/.cache/nimbus-bench\`; \`BENCH_WORKERD=0\` skips it), workerd — Cloudflare's runtime, the binary the
  \`miniflare\` package runs — serves the same hello as a Worker on its own port, measured in the same
  rounds, pinned like the others. It is never a dependency of \`npm ci\`.
- **Cold start.** A function with \`scale: {min: 0, idleTimeoutMs: 100}\` is polled through the
  control API until it has no instance, then one request is timed end to end from the client;
  \`BENCH_COLD_STARTS\` (default 20) times; the \`initMs\` the platform logs for each start is shown
  beside it. Interleaved with those, \`node -e 0\` is spawned from a process on core 0 and timed from
  spawn to exit: the floor a cold start that spawns a process cannot go below.
- **Memory.** \`VmRSS\` (and the peak, \`VmHWM\`) from \`/proc/<pid>/status\` after the load, for the
  platform process, for everything under it, and for the warm \`hello\` instance: the process tree under
  the platform that does the work while \`hello\` alone is under load (so pre-started runners or a
  sandbox wrapper do not confuse it). The instance is measured once before the load (one request
  served) and once after it. Beside RSS, PSS from \`/proc/<pid>/smaps_rollup\`: a page shared by n
  processes counts 1/n, so the node binary's code, which every node process maps, is not counted once
  per instance. The whole platform is also measured right after the three bench functions are deployed,
  before any load: its processes and their memory. MB are 10⁶ bytes.

The machine is a shared 2-vCPU VM: expect a few percent of noise between runs, more at p99.
`;

interface ParsedDoc {
  /** Dated run sections by date (marker excluded). */
  runs: Map<string, string>;
  /** Blocks starting at a `## ` heading that is not part of a dated run, in file order. */
  others: string[];
}

/** Splits the file at run markers and at `## ` headings; the intro (before either) is dropped. */
function parse(text: string): ParsedDoc {
  const runs = new Map<string, string>();
  const others: string[] = [];
  let current: { date: string | undefined; lines: string[] } | undefined;
  const close = (): void => {
    if (!current) return;
    const body = current.lines.join('\n').trim();
    if (current.date) runs.set(current.date, body);
    else others.push(body);
  };
  for (const line of text.split('\n')) {
    const mark = RUN_MARK.exec(line);
    // A run's own `## date` heading comes right after its marker and stays in the run.
    const ownHeading = current?.date !== undefined && current.lines.every((l) => l.trim() === '');
    if (mark) {
      close();
      current = { date: mark[1], lines: [] };
    } else if (line.startsWith('## ') && !ownHeading) {
      close();
      current = { date: undefined, lines: [line] };
    } else {
      current?.lines.push(line);
    }
  }
  close();
  return { runs, others };
}

/** Writes `section` as the run of `date`, keeping other dates' sections (newest first) and other benches' sections. */
export function writeRunSection(path: string, date: string, section: string): void {
  const { runs, others } = existsSync(path)
    ? parse(readFileSync(path, 'utf8'))
    : { runs: new Map(), others: [] };
  runs.set(date, section.trim());
  const dated = [...runs.entries()]
    .sort(([a], [b]) => b.localeCompare(a))
    .map(([d, body]) => `<!-- bench-run ${d} -->\n${body}\n`);
  writeFileSync(path, [INTRO, ...dated, ...others.map((block) => `${block}\n`)].join('\n'));
}
