// Finds the gateway, the credential and the namespace: --url/--token/--namespace, else NIMBUS_URL,
// NIMBUS_TOKEN (a key's secret or the admin token; NIMBUS_ADMIN_TOKEN too) and NIMBUS_NAMESPACE, else the
// local data dir.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TOKEN_FILE } from '../auth/admin-token.js';
import { NimbusClient } from './client.js';

export const GATEWAY_FILE = 'gateway.json';
export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface GlobalFlags {
  url?: string | undefined;
  token?: string | undefined;
  data?: string | undefined;
  namespace?: string | undefined;
}

export function clientFrom(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): NimbusClient {
  const dataDir = resolve(flags.data ?? env.NIMBUS_DATA ?? '.nimbus');
  let url = flags.url ?? env.NIMBUS_URL;
  if (!url) {
    const gatewayFile = join(dataDir, GATEWAY_FILE);
    if (existsSync(gatewayFile)) {
      try {
        url = (JSON.parse(readFileSync(gatewayFile, 'utf8')) as { url?: string }).url;
      } catch {}
    }
  }
  let token = flags.token ?? env.NIMBUS_TOKEN ?? env.NIMBUS_ADMIN_TOKEN;
  if (!token) {
    const tokenFile = join(dataDir, TOKEN_FILE);
    if (existsSync(tokenFile)) token = readFileSync(tokenFile, 'utf8').trim();
  }
  return new NimbusClient(url ?? DEFAULT_URL, token, flags.namespace ?? env.NIMBUS_NAMESPACE);
}
