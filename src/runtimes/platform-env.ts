// What the platform adds to every function's environment (under the function's own `environment`, which
// wins): where the gateway is, and the function's own key, also in the names the AWS SDK reads, so code
// written for Lambda calls other functions through Nimbus unchanged.
import type { FunctionVersion } from '../store/store.js';

export interface PlatformEnvContext {
  fn: FunctionVersion;
  /** The gateway's URL as an instance reaches it. */
  gatewayUrl: string;
  /** The function's own invoke key. */
  key: { id: string; secret: string };
}

export function platformEnv({ gatewayUrl, key }: PlatformEnvContext): Record<string, string> {
  return {
    NIMBUS_URL: gatewayUrl,
    NIMBUS_KEY: key.secret,
    AWS_ACCESS_KEY_ID: key.id,
    AWS_SECRET_ACCESS_KEY: key.secret,
    AWS_ENDPOINT_URL_LAMBDA: gatewayUrl,
  };
}
