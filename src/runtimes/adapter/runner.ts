// The adapter runner: the instance process of the exec, http and lambda runtimes. It speaks the instance
// protocol to the gateway like any runner, and runs the user's program in its own process tree: per request
// (exec), once as an HTTP server it proxies to (http), or as a Lambda custom runtime it serves the Runtime
// API to (lambda).
import { linkToGateway } from '../gateway-link.js';
import { createExecMode } from './exec-mode.js';
import { createHttpMode } from './http-mode.js';
import { createLambdaMode } from './lambda-mode.js';
import type { Mode } from './mode.js';
import type { AdapterLoadMessage } from './options.js';

let mode: Mode | undefined;

const writer = linkToGateway<AdapterLoadMessage>('adapter', {
  load,
  request: (stream) => {
    if (mode) mode.request(stream);
    else stream.fail('no function is loaded in this instance');
  },
});

/** Starts the user's program in the mode the LOAD message names (exec, http or lambda). */
async function load(message: AdapterLoadMessage): Promise<string> {
  const options = message.adapter;
  if (!options)
    throw new Error('the LOAD message has no "adapter" settings; this runner serves exec, http and lambda');
  const create = { exec: createExecMode, http: createHttpMode, lambda: createLambdaMode }[options.mode];
  if (!create) throw new Error(`unknown adapter mode "${options.mode}"`);
  const created = create(message, options, { exit: exitInstance });
  await created.start();
  mode = created;
  return options.mode;
}

/**
 * The user's long-running program is gone: so is this instance. Exiting makes the gateway fail what is
 * in flight as a crash (502) and start a fresh instance for the next request, rather than leave callers hanging.
 */
function exitInstance(reason: string): void {
  process.stderr.write(`nimbus: ${reason}; the instance stops\n`);
  writer.flush();
  process.exit(70);
}
