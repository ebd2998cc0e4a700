// The Python runtime adapter: runs runner.py (standard library only) with the host's python3.
import { fileURLToPath } from 'node:url';
import { NimbusError } from '../../errors.js';
import type { FunctionVersion } from '../../store/store.js';
import {
  baseEnv,
  findExecutable,
  INSTANCE_PATH,
  type LaunchSpec,
  type RuntimeAdapter,
  type RuntimeOptions,
} from '../runtime.js';

/** The runner, copied into dist/ by `npm run build` (the same path from src/ under tsx and from dist/). */
export const PYTHON_RUNNER_PATH = fileURLToPath(
  new URL('../../../dist/runtimes/python/runner.py', import.meta.url),
);

/** The OpenWhisk style, imported by the runner from beside it. */
export const PYTHON_OPENWHISK_STYLE_PATH = fileURLToPath(
  new URL('../../../dist/runtimes/python/openwhisk_style.py', import.meta.url),
);

export const DEFAULT_PYTHON = 'python3';
export const DEFAULT_PYTHON_HANDLER = 'handler.handle';

/** `handler.handle` → `handler#handle`, `pkg.app.main` → `pkg.app#main` (the LOAD message's entry). */
export function pythonEntry(handler: string | undefined): string {
  const spec = handler ?? DEFAULT_PYTHON_HANDLER;
  const dot = spec.lastIndexOf('.');
  const module = spec.slice(0, dot);
  const fn = spec.slice(dot + 1);
  if (dot <= 0 || !/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(module) || !/^[A-Za-z_]\w*$/.test(fn)) {
    throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [
      `handler: "${spec}" is not "module.function" (for example handler.handle for def handle in handler.py)`,
    ]);
  }
  return `${module}#${fn}`;
}

function interpreter(options: RuntimeOptions): { name: string; path: string | undefined } {
  const name = options.python ?? DEFAULT_PYTHON;
  return { name, path: findExecutable(name, INSTANCE_PATH) };
}

export const pythonRuntime: RuntimeAdapter = {
  name: 'python',
  check(fn: FunctionVersion, options: RuntimeOptions): void {
    pythonEntry(fn.spec.handler);
    const { name, path } = interpreter(options);
    if (!path)
      throw new NimbusError('ERR_RUNTIME_MISSING', [
        'python',
        name,
        name.includes('/') ? name : `PATH ${INSTANCE_PATH}`,
      ]);
  },
  launch(fn: FunctionVersion, bundleDir: string, options: RuntimeOptions): LaunchSpec {
    const { name, path } = interpreter(options);
    return {
      // Unresolved, the spawn fails with a message naming the interpreter (check() reports it at deploy).
      command: path ?? name,
      // -u: output reaches the logs as written; -B: no .pyc in the read-only bundle; -s: no user site-packages.
      args: ['-u', '-B', '-s', PYTHON_RUNNER_PATH],
      env: { ...baseEnv(), PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      readOnlyPaths: [PYTHON_RUNNER_PATH, PYTHON_OPENWHISK_STYLE_PATH],
      load: {
        bundleDir,
        entry: pythonEntry(fn.spec.handler),
        name: fn.name,
        version: fn.version,
        env: fn.spec.environment,
        timeoutMs: fn.spec.timeoutMs,
        memoryMb: fn.spec.memoryMb,
        debug: options.debug,
        ...(fn.spec.handlerStyle ? { style: fn.spec.handlerStyle } : {}),
      },
    };
  },
};
