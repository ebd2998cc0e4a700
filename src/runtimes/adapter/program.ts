// The user's program inside the adapter runner: found the way a shell would (a path with a `/` is
// relative to the bundle), started in the bundle directory with the instance's environment.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { findExecutable } from '../runtime.js';

export interface Program {
  /** Absolute path of the executable. */
  file: string;
  args: string[];
  /** The command as written, for messages. */
  display: string;
  cwd: string;
}

/** Resolves argv against the bundle and PATH; throws a message that says what to fix. */
export function resolveProgram(argv: readonly string[], bundleDir: string, path: string): Program {
  const [first, ...args] = argv as [string, ...string[]];
  const display = argv.join(' ');
  let file: string | undefined;
  if (first.includes('/')) {
    const candidate = resolve(bundleDir, first);
    let isFile = false;
    try {
      isFile = statSync(candidate).isFile();
    } catch {
      throw new Error(`${first} does not exist in the bundle`);
    }
    if (!isFile) throw new Error(`${first} is not a file`);
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      throw new Error(`${first} is not executable: run chmod +x ${first} and deploy again`);
    }
    file = candidate;
  } else {
    file = findExecutable(first, path);
    if (!file) throw new Error(`${first} was not found on the instance's PATH (${path})`);
  }
  return { file, args, display, cwd: bundleDir };
}

/** The environment of the user's program: the instance's own, plus the function's variables and `extra`. */
export function programEnv(
  functionEnv: Readonly<Record<string, string>>,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  return { ...env, ...functionEnv, ...extra };
}

/** Starts the program; it stays in the runner's process group, so stopping the instance stops it too. */
export function startProgram(
  program: Program,
  env: Record<string, string>,
  stdio: SpawnOptions['stdio'],
): ChildProcess {
  return spawn(program.file, program.args, { cwd: program.cwd, env, stdio });
}

/** `exit code 3` or `killed by SIGKILL`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

/** Keeps the last `limit` bytes written to it (a program's stderr, for error messages). */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all
      .subarray(Math.max(0, all.length - this.limit))
      .toString('utf8')
      .trim();
  }
}
