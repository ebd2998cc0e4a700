// What the platform adds to every function's environment (under the function's own `environment`, which
// wins): where the gateway is, and the function's own key, also in the names the AWS SDK and the OpenWhisk
// client read, so code written for Lambda or OpenWhisk calls other functions through Nimbus unchanged.
import { splitFunctionId } from '../config/namespace.js';
import type { FunctionVersion } from '../store/store.js';

export interface PlatformEnvContext {
  fn: FunctionVersion;
  /** The gateway's URL as an instance reaches it. */
  gatewayUrl: string;
  /** The function's own invoke key. */
  key: { id: string; secret: string };
}

export function platformEnv({ fn, gatewayUrl, key }: PlatformEnvContext): Record<string, string> {
  const { name, namespace } = splitFunctionId(fn.name);
  return {
    NIMBUS_URL: gatewayUrl,
    NIMBUS_KEY: key.secret,
    AWS_ACCESS_KEY_ID: key.id,
    AWS_SECRET_ACCESS_KEY: key.secret,
    AWS_ENDPOINT_URL_LAMBDA: gatewayUrl,
    // OpenWhisk's: the client reads __OW_API_HOST and __OW_API_KEY ("id:secret"); the runner adds the
    // per-call __OW_ACTIVATION_ID and __OW_DEADLINE.
    __OW_API_HOST: gatewayUrl,
    __OW_API_KEY: `${key.id}:${key.secret}`,
    __OW_NAMESPACE: namespace,
    __OW_ACTION_NAME: `/${namespace}/${name}`,
    __OW_ACTION_VERSION: `0.0.${fn.version}`,
  };
}
