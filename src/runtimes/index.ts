// The runtime adapters by name (the names `runtime:` accepts in a function spec).
import type { RuntimeName } from '../config/function-spec.js';
import { execRuntime, httpRuntime, lambdaRuntime } from './adapter/adapter.js';
import { nodeRuntime } from './node/adapter.js';
import { pythonRuntime } from './python/adapter.js';
import type { RuntimeAdapter } from './runtime.js';

export const RUNTIMES: Readonly<Record<RuntimeName, RuntimeAdapter>> = {
  node: nodeRuntime,
  python: pythonRuntime,
  exec: execRuntime,
  http: httpRuntime,
  lambda: lambdaRuntime,
};
