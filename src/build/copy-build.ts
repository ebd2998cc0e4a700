// Bundles of the non-Node runtimes (python, exec, http, lambda): the function folder copied as it is
// (exec bits kept: the bundle hash covers them), `requirements.txt` installed into it with pip (for every
// runtime: an http or exec program may be Python too), the production node_modules pruned to what
// package.json needs, and the program or handler the spec names checked to be there.
import { spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import type { FunctionSpec } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
import { commandArgv } from '../runtimes/adapter/adapter.js';
import { DEFAULT_PYTHON, pythonEntry } from '../runtimes/python/adapter.js';
import { findExecutable, pathWithNode } from '../runtimes/runtime.js';
import { SKIPPED_NAMES } from './node-bundle.js';
import { copyPackages, PackageGraph } from './node-modules.js';
import { readPackageJson } from './npm-install.js';

const PIP_OUTPUT_LINES = 20;
const PIP_TIMEOUT_MS = 10 * 60_000;
/** A command's first word that names a Python interpreter (`python3`, `python3.12`, `/opt/py/bin/python`). */
const PYTHON_COMMAND_RE = /(^|\/)python(\d+(\.\d+)?)?$/;

export interface CopyBuildOptions {
  /**
   * Python that runs pip for requirements.txt: a command looked up on the instances' PATH (as the
   * runtime looks it up, so build and run use the same interpreter) or an absolute path. Default python3;
   * an exec or http `command` that starts with a Python interpreter uses that one.
   */
  python?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Put the folder into this subfolder of the bundle (a template's layout, e.g. `function`). */
  into?: string;
  /** Files a template adds at the bundle's root, by name. */
  templateFiles?: Readonly<Record<string, string>>;
}

/** Copies `dir` into `outDir` and prepares it for `spec.runtime`. */
export async function copyBuild(
  dir: string,
  outDir: string,
  spec: FunctionSpec,
  options: CopyBuildOptions = {},
): Promise<void> {
  const target = options.into ? join(outDir, options.into) : outDir;
  mkdirSync(target, { recursive: true });
  cpSync(dir, target, {
    recursive: true,
    // A link is followed: the bundle must hold what it points at, not a path outside it.
    dereference: true,
    filter: (source) =>
      source === dir || (!SKIPPED_NAMES.has(basename(source)) && !(source === join(dir, 'node_modules'))),
  });
  for (const [name, text] of Object.entries(options.templateFiles ?? {}))
    writeFileSync(join(outDir, name), text, { mode: 0o644 });
  if (spec.runtime !== 'python') shipNodeModules(dir, target);
  const requirements = join(dir, 'requirements.txt');
  if (existsSync(requirements) && hasRequirements(readFileSync(requirements, 'utf8'))) {
    const python = resolvePython(buildPython(spec, options.python));
    options.log?.(`installing requirements.txt with ${python} -m pip`);
    await pipInstall(dir, outDir, python);
  }
  if (spec.runtime === 'python') checkPythonModule(outDir, spec);
  else checkProgram(outDir, spec);
}

/** false for an empty requirements.txt, or one of comments and blank lines only: pip is not run. */
export function hasRequirements(text: string): boolean {
  return text.split(/\r?\n/).some((line) => line.replace(/(^|\s)#.*$/, '').trim() !== '');
}

/** The interpreter pip runs with: the runtime's own (python), or the one an exec/http command starts. */
function buildPython(spec: FunctionSpec, configured: string | undefined): string {
  if (spec.runtime !== 'python' && spec.command !== undefined) {
    const [first] = commandArgv({ spec });
    if (first && PYTHON_COMMAND_RE.test(first) && !first.startsWith('./')) return first;
  }
  return configured ?? DEFAULT_PYTHON;
}

/** Looked up on the instances' PATH, as the runtime will: a builder's pyenv or venv python is not the one that runs. */
function resolvePython(python: string): string {
  const path = pathWithNode();
  const found = findExecutable(python, path);
  if (!found)
    throw new NimbusError('ERR_BUILD_PIP_FAILED', [
      python.includes('/')
        ? `${python} was not found or is not executable`
        : `${python} was not found on the instances' PATH (${path}); set python in the config to an absolute path`,
    ]);
  return found;
}

/** The production dependencies of package.json (or all of a node_modules without one), pruned, beside the code. */
function shipNodeModules(dir: string, target: string): void {
  const pkg = readPackageJson(dir);
  if (!existsSync(join(dir, 'node_modules')) && !pkg) return;
  const graph = new PackageGraph(dir, pkg);
  copyPackages(graph.closure(graph.seeds), target);
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
