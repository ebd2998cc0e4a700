// The exec, http and lambda runtime adapters: each instance is the Node adapter runner, which speaks the
// instance protocol to the gateway and runs the user's program inside the same process tree.
import { fileURLToPath } from 'node:url';
import { NimbusError } from '../../errors.js';
import type { FunctionVersion } from '../../store/store.js';
import { splitCommand } from '../command-line.js';
import {
  baseEnv,
  type LaunchSpec,
  pathWithNode,
  type RuntimeAdapter,
  type RuntimeOptions,
} from '../runtime.js';
import type { AdapterLoadMessage, AdapterMode } from './options.js';

/** The runner bundle built by `npm run build` (the same path from src/ under tsx and from dist/). */
export const ADAPTER_RUNNER_PATH = fileURLToPath(
  new URL('../../../dist/runtimes/adapter/runner.bundle.mjs', import.meta.url),
);

export const DEFAULT_LAMBDA_HANDLER = 'index.handler';
export const DEFAULT_LAMBDA_COMMAND = './bootstrap';
export const DEFAULT_HEALTH_PATH = '/';

/** The program of a function as argv (`command`, or `./bootstrap` for lambda). */
export function commandArgv(fn: Pick<FunctionVersion, 'spec'>): string[] {
  const command = fn.spec.command ?? (fn.spec.runtime === 'lambda' ? DEFAULT_LAMBDA_COMMAND : undefined);
  if (command === undefined)
    throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [
      `command: is required by runtime ${fn.spec.runtime}`,
    ]);
  let argv: string[];
  try {
    argv = splitCommand(command);
  } catch (err) {
    throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [`command: ${(err as Error).message}`]);
  }
  if (argv.length === 0) throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', ['command: is empty']);
  return argv;
}

function adapterRuntime(mode: AdapterMode): RuntimeAdapter {
  return {
    name: mode,
    check(fn: FunctionVersion): void {
      commandArgv(fn);
    },
    launch(fn: FunctionVersion, bundleDir: string, options: RuntimeOptions): LaunchSpec {
      const argv = commandArgv(fn);
      const load: AdapterLoadMessage = {
        bundleDir,
        entry: argv.join(' '),
        name: fn.name,
        version: fn.version,
        env: fn.spec.environment,
        timeoutMs: fn.spec.timeoutMs,
        memoryMb: fn.spec.memoryMb,
        debug: options.debug,
        adapter: {
          mode,
          argv,
          healthPath: fn.spec.healthPath ?? DEFAULT_HEALTH_PATH,
          unixSocket: fn.spec.unixSocket ?? false,
          handler: fn.spec.handler ?? DEFAULT_LAMBDA_HANDLER,
          concurrency: fn.spec.concurrency ?? 1,
        },
      };
      return {
        command: process.execPath,
        args: [ADAPTER_RUNNER_PATH],
        env: { ...baseEnv(), PATH: pathWithNode() },
        readOnlyPaths: [ADAPTER_RUNNER_PATH],
        load,
      };
    },
  };
}

export const execRuntime = adapterRuntime('exec');
export const httpRuntime = adapterRuntime('http');
export const lambdaRuntime = adapterRuntime('lambda');
