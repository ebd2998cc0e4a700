// The child side of the bench's IPC: announces readiness, answers {id, op, args} with {id, result} or
// {id, error}, and exits when asked, when the parent goes away, or on a signal (bounded by a deadline).

/** How long a child may take to close before it exits regardless. */
const CLOSE_DEADLINE_MS = 5_000;

/**
 * @param {{ ready: Record<string, unknown>, handlers: Record<string, (args: any) => unknown>, close?: () => unknown }} options
 */
export function serveIpc({ ready, handlers, close }) {
  /** @type {Promise<void> | undefined} */
  let closing;
  const shutdown = () => {
    closing ??= (async () => {
      setTimeout(() => process.exit(1), CLOSE_DEADLINE_MS).unref();
      try {
        await close?.();
      } catch {}
      process.exit(0);
    })();
    return closing;
  };

  process.on('message', async (message) => {
    if (
      !message ||
      typeof message !== 'object' ||
      typeof message.id !== 'number' ||
      typeof message.op !== 'string'
    )
      return;
    if (message.op === 'close') {
      await shutdown();
      return;
    }
    let reply;
    try {
      const handler = handlers[message.op];
      if (!handler) throw new Error(`unknown op "${message.op}"`);
      reply = { id: message.id, result: await handler(message.args) };
    } catch (err) {
      reply = { id: message.id, error: err instanceof Error ? err.message : String(err) };
    }
    if (process.connected) process.send(reply);
  });
  // The bench went away (even by SIGKILL): nothing is left to serve.
  process.on('disconnect', () => void shutdown());
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void shutdown());
  process.send({ type: 'ready', pid: process.pid, ...ready });
}

/** Sends an unsolicited event to the bench. */
export function sendEvent(event) {
  if (process.connected) process.send({ type: 'event', event });
}
