// One budget for the request bodies the gateway holds whole while they arrive (async calls, OpenWhisk params
// and web actions, Lambda API calls): each body is capped on its own, and this caps them together, so many
// connections each sending most of a body and then stalling cannot grow the process without bound.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NimbusError } from '../errors.js';

/** How long a client refused for want of budget is asked to wait (Retry-After, seconds). */
const RETRY_AFTER_S = 1;

export class BodyBudget {
  readonly #limitBytes: number;
  #heldBytes = 0;

  /** `limitBytes`: the most bytes of bodies held at once, across every request. */
  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** A hold for the body of the request `res` answers: what it took goes back once `res` closes. */
  hold(res: ServerResponse): BodyHold {
    const hold = new BodyHold(this);
    res.once('close', () => hold.release());
    return hold;
  }

  /** Takes `bytes`; false (and nothing taken) when that would pass the limit. */
  take(bytes: number): boolean {
    if (this.#heldBytes + bytes > this.#limitBytes) return false;
    this.#heldBytes += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#heldBytes -= bytes;
  }

  /** The error for a body refused for want of budget. */
  full(): NimbusError {
    return new NimbusError('ERR_REQUEST_BODIES_FULL', [Math.round(this.#limitBytes / 1024 / 1024)], {
      // The connection ends with the answer: what the client still sends is not read.
      headers: { 'retry-after': String(RETRY_AFTER_S), connection: 'close' },
    });
  }
}

/** The bytes one request's body took from the budget. */
export class BodyHold {
  readonly #budget: BodyBudget;
  #bytes = 0;
  #released = false;

  constructor(budget: BodyBudget) {
    this.#budget = budget;
  }

  /** Takes `bytes` more for this body; throws ERR_REQUEST_BODIES_FULL when the budget has no room. */
  take(bytes: number): void {
    if (this.#released || !this.#budget.take(bytes)) throw this.#budget.full();
    this.#bytes += bytes;
  }

  /** Gives back what this body took (once; later calls do nothing). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#budget.give(this.#bytes);
    this.#bytes = 0;
  }
}

/**
 * A request's whole body, at most `limit` bytes: past it (by Content-Length at once, or as it arrives)
 * rejects with `tooLarge()`; taken from `hold`'s budget as it arrives, rejecting with the budget's error at
 * once when it has no room. What was read is let go on refusal.
 */
export function readWholeBody(
  req: IncomingMessage,
  limit: number,
  tooLarge: () => Error,
  hold?: BodyHold,
): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const refuse = (err: unknown): void => {
      refused = true;
      chunks.length = 0;
      hold?.release();
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refuse(tooLarge());
        return;
      }
      try {
        hold?.take(chunk.length);
      } catch (err) {
        refuse(err);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}
