// Call ids: UUIDv7 (RFC 9562) — a millisecond timestamp, then random bits. Ids made in time order land
// next to each other in SQLite's indexes, so a group commit writes a few pages, not one per call.
import { randomUUID } from 'node:crypto';

export function newCallId(now: number = Date.now()): string {
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx (V: the RFC 4122 variant)
  const ms = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${random.slice(15)}`;
}
