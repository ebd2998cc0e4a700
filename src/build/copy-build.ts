// Bundles of the non-Node runtimes (python, exec, http, lambda): the function folder copied as it is
// (exec bits kept: the bundle hash covers them), `requirements.txt` installed into it with pip, and the
// program or handler the spec names checked to be there.
import { spawn } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { FunctionSpec } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import { commandArgv } from '../runtimes/adapter/adapter.js';
import { DEFAULT_PYTHON, pythonEntry } from '../runtimes/python/adapter.js';

/** Not copied into a bundle: the spec travels on its own, the rest is local clutter. */
const SKIPPED_NAMES = new Set(['nimbus.yml', 'nimbus.yaml', '.git', '__pycache__', '.DS_Store']);
const PIP_OUTPUT_LINES = 20;
const PIP_TIMEOUT_MS = 10 * 60_000;

export interface CopyBuildOptions {
  /** Python used to run pip for requirements.txt. Default python3 (on the builder's PATH). */
  python?: string;
}

/** Copies `dir` into `outDir` and prepares it for `spec.runtime`. */
export async function copyBuild(
  dir: string,
  outDir: string,
  spec: FunctionSpec,
  options: CopyBuildOptions = {},
): Promise<void> {
  cpSync(dir, outDir, {
    recursive: true,
    // A link is followed: the bundle must hold what it points at, not a path outside it.
    dereference: true,
    filter: (source) => source === dir || !SKIPPED_NAMES.has(basename(source)),
  });
  if (spec.runtime === 'python') {
    if (existsSync(join(dir, 'requirements.txt')))
      await pipInstall(dir, outDir, options.python ?? DEFAULT_PYTHON);
    checkPythonModule(outDir, spec);
  } else {
    checkProgram(outDir, spec);
  }
}

/** `pip install -r requirements.txt --target <bundle>`, run in the function folder (relative paths work). */
async function pipInstall(dir: string, outDir: string, python: string): Promise<void> {
  const args = [
    '-m',
    'pip',
    'install',
    '--disable-pip-version-check',
    '--no-input',
    '--quiet',
    // .pyc files would make the bundle hash differ on every build of the same code.
    '--no-compile',
    '--no-warn-script-location',
    '--target',
    outDir,
    '-r',
    'requirements.txt',
  ];
  const { code, output, error } = await new Promise<{ code: number | null; output: string; error?: Error }>(
    (resolve) => {
      const child = spawn(python, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      // Not spawn's own `timeout`: its timer outlives a spawn that fails (no 'exit' comes to clear it).
      const timer = setTimeout(() => child.kill('SIGKILL'), PIP_TIMEOUT_MS);
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ code: null, output: '', error: err });
      });
      child.on('close', (exit, signal) => {
        clearTimeout(timer);
        const output = Buffer.concat(chunks).toString('utf8');
        resolve({
          code: exit,
          output: signal ? `${output}\n${python} -m pip was killed by ${signal}` : output,
        });
      });
    },
  );
  if (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new NimbusError('ERR_BUILD_PIP_FAILED', [
      missing
        ? `${python} was not found on this machine's PATH`
        : `could not run ${python}: ${error.message}`,
    ]);
  }
  if (code !== 0) {
    const lines = output.trim().split('\n').filter(Boolean).slice(-PIP_OUTPUT_LINES).join('\n');
    throw new NimbusError('ERR_BUILD_PIP_FAILED', [lines || `${python} -m pip exited with code ${code}`]);
  }
}

function checkPythonModule(outDir: string, spec: FunctionSpec): void {
  const [module] = pythonEntry(spec.handler).split('#') as [string];
  const path = module.replaceAll('.', '/');
  if (existsSync(join(outDir, `${path}.py`)) || existsSync(join(outDir, path, '__init__.py'))) return;
  throw new NimbusError('ERR_BUILD_FAILED', [
    `no ${path}.py for handler "${spec.handler ?? 'handler.handle'}"; add it or set "handler: module.function" in nimbus.yml`,
  ]);
}

/** A program named by path (`./run.sh`, `./bootstrap`) must be in the bundle and executable. */
function checkProgram(outDir: string, spec: FunctionSpec): void {
  const [first] = commandArgv({ spec }) as [string];
  if (!first.includes('/') || first.startsWith('/')) return;
  const path = join(outDir, first);
  const what =
    spec.command === undefined ? `runtime lambda needs an executable ${first} (or a "command")` : first;
  if (!existsSync(path) || !statSync(path).isFile())
    throw new NimbusError('ERR_BUILD_FAILED', [`${what}: there is no such file in the function folder`]);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new NimbusError('ERR_BUILD_FAILED', [`${first} is not executable; run chmod +x ${first}`]);
  }
}
