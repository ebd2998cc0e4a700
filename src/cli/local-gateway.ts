// A gateway on this machine for the CLI: finds one already running (the way every command finds it) or
// starts one in this process, announced in the data dir's gateway.json until it stops.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformConfig } from '../config/platform.js';
import { type Platform, type PlatformLog, startPlatform } from '../platform.js';
import type { NimbusClient } from './client.js';
import { GATEWAY_FILE } from './context.js';

/** How long a running gateway has to answer /healthz before it counts as gone. */
const PROBE_TIMEOUT_MS = 2000;

/** Whether a Nimbus gateway answers at the client's URL. */
export async function gatewayAnswers(client: NimbusClient): Promise<boolean> {
  try {
    const res = await fetch(new URL('/healthz', client.baseUrl), {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    const body = (await res.json().catch(() => undefined)) as { status?: unknown } | undefined;
    return res.status === 200 && body?.status === 'ok';
  } catch {
    return false;
  }
}

export interface LocalGateway {
  readonly platform: Platform;
  /** Stops the gateway (in-flight requests finish within the grace period) and removes gateway.json. */
  stop(): Promise<void>;
}

/** Starts the platform in this process and writes gateway.json so other `nimbus` commands find it. */
export async function startLocalGateway(config: PlatformConfig, log: PlatformLog): Promise<LocalGateway> {
  const platform = await startPlatform(config, log);
  const gatewayFile = join(config.dataDir, GATEWAY_FILE);
  writeFileSync(gatewayFile, JSON.stringify({ url: platform.url, pid: process.pid }), { mode: 0o600 });
  let stopped: Promise<void> | undefined;
  return {
    platform,
    stop() {
      stopped ??= platform.close().then(() => removeGatewayFile(gatewayFile));
      return stopped;
    },
  };
}

/** Removes gateway.json when it still names this process (another gateway may have taken the data dir since). */
function removeGatewayFile(path: string): void {
  try {
    const { pid } = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
    if (pid === process.pid) rmSync(path, { force: true });
  } catch {}
}
