// The Node.js runtime adapter: runs the bundled runner with the platform's own node binary, or with the
// node of the major the function asks for (`nodeVersion`) where the host has one (node-binary.ts).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_NODE_CONCURRENCY } from '../../config/function-spec.js';
import { NimbusError } from '../../errors.js';
import type { FunctionVersion } from '../../store/store.js';
import {
  baseEnv,
  INSTANCE_PATH,
  type LaunchSpec,
  type RuntimeAdapter,
  type RuntimeOptions,
} from '../runtime.js';
import { findNode, HOST_MAJOR, type NodeLookup, nodeSearchDescription } from './node-binary.js';
import { PROVIDED_NODE_MODULES, SANDBOX_PROVIDED_DIR } from './provided-packages.js';

/** The runner bundle built by `npm run build` (the same path from src/ under tsx and from dist/). */
export const NODE_RUNNER_PATH = fileURLToPath(
  new URL('../../../dist/runtimes/node/runner.bundle.mjs', import.meta.url),
);

/** The Azure Functions style the runner imports for Azure apps (built beside it). */
export const AZURE_STYLE_PATH = fileURLToPath(
  new URL('../../../dist/runtimes/node/azure-style.bundle.mjs', import.meta.url),
);

function lookupOf(options: RuntimeOptions): NodeLookup {
  return { path: INSTANCE_PATH, ...(options.nodeBinaries ? { binaries: options.nodeBinaries } : {}) };
}

/** The node binary of a function: its major's, the platform's under `nodeVersionFallback: host`, or undefined. */
function nodeFor(fn: FunctionVersion, options: RuntimeOptions): string | undefined {
  const found = findNode(fn.spec.nodeVersion, lookupOf(options));
  if (found) return found;
  return options.nodeVersionFallback === 'host' ? process.execPath : undefined;
}

export const nodeRuntime: RuntimeAdapter = {
  name: 'node',
  check(fn: FunctionVersion, options: RuntimeOptions): void {
    const major = fn.spec.nodeVersion;
    if (major === undefined || nodeFor(fn, options)) return;
    throw new NimbusError('ERR_RUNTIME_NODE_VERSION', [
      fn.name,
      String(major),
      nodeSearchDescription(major, lookupOf(options)),
      String(HOST_MAJOR),
    ]);
  },
  // Fetch and OpenFaaS-style handlers are asynchronous: one process serves many requests at once (Cloud
  // Run's default is 80). A Lambda-style handler gets one event at a time, as Lambda gives it: code written
  // for Lambda may keep per-invocation state in module scope.
  defaultConcurrency: (style) => (style === 'fetch' || style === 'openfaas' ? DEFAULT_NODE_CONCURRENCY : 1),
  launch(fn: FunctionVersion, bundleDir: string, options: RuntimeOptions): LaunchSpec {
    // The V8 heap is capped below the memory limit so an instance fails by itself before a cgroup kill.
    const heapMb = Math.max(16, Math.floor(fn.spec.memoryMb * 0.75));
    return {
      // Unresolved (the node was removed since the deploy), the spawn fails with a message naming it.
      command: nodeFor(fn, options) ?? `node${fn.spec.nodeVersion}`,
      args: [`--max-old-space-size=${heapMb}`, NODE_RUNNER_PATH],
      env: { ...baseEnv(), NODE_ENV: 'production' },
      readOnlyPaths:
        fn.spec.handlerStyle === 'azure' ? [NODE_RUNNER_PATH, AZURE_STYLE_PATH] : [NODE_RUNNER_PATH],
      // The AWS SDK functions import without shipping it (provided-packages.ts), where built.
      binds: existsSync(PROVIDED_NODE_MODULES)
        ? [{ host: PROVIDED_NODE_MODULES, sandbox: SANDBOX_PROVIDED_DIR }]
        : [],
      load: {
        bundleDir,
        entry: fn.entry,
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
