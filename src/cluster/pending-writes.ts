// Writes a synchronous store API started in the background (JetStream in a cluster), and a `sync()` that
// resolves once all of them were acknowledged, or rejects with the first that was refused: what an API
// awaits (through `acknowledged`) before it answers a client.
import { NimbusError } from '../errors.js';

export class PendingWrites {
  readonly #pending = new Set<Promise<void>>();
  #failure: unknown;

  /** Tracks `write`; `remember: false` for best-effort writes whose failure `sync` need not report. */
  track(write: Promise<unknown>, remember = true): void {
    const tracked = write.then(
      () => {},
      (err: unknown) => {
        if (remember) this.#failure ??= err;
      },
    );
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }

  /** Resolves once every write tracked so far settled; rejects (once) when one was refused. */
  async sync(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    const failure = this.#failure;
    this.#failure = undefined;
    if (failure !== undefined) throw failure;
  }
}

/** Awaits a store's `sync()`; a refused write is ERR_CLUSTER_WRITE_FAILED naming `what` changed. */
export async function acknowledged(sync: () => Promise<void>, what: string): Promise<void> {
  try {
    await sync();
  } catch (err) {
    throw new NimbusError('ERR_CLUSTER_WRITE_FAILED', [what, (err as Error).message], { cause: err });
  }
}
