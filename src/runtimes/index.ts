// The runtime adapters by name.
import { nodeRuntime } from './node/adapter.js';
import type { RuntimeAdapter } from './runtime.js';

export const RUNTIMES: Readonly<Record<string, RuntimeAdapter>> = { node: nodeRuntime };
