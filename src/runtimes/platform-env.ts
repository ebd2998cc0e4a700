// What the platform adds to every function's environment (under the function's own `environment`, which
// wins): where the gateway is, the function's own key, also in the names the AWS SDK and the OpenWhisk
// client read, and the variables Lambda's runtimes set, so code written for Lambda or OpenWhisk finds what
// it looks for and calls other functions through Nimbus unchanged. Per-instance ones (LAMBDA_TASK_ROOT, the
// log stream) are the runner's.
import { splitFunctionId } from '../config/namespace.js';
import type { FunctionVersion } from '../store/store.js';

export interface PlatformEnvContext {
  fn: FunctionVersion;
  /** The gateway's URL as an instance reaches it. */
  gatewayUrl: string;
  /** The function's own invoke key. */
  key: { id: string; secret: string };
  /** Config `awsRegion`. */
  region: string;
  /** The Node.js major a node function runs on (AWS_EXECUTION_ENV). */
  nodeMajor: number;
}

export function platformEnv({
  fn,
  gatewayUrl,
  key,
  region,
  nodeMajor,
}: PlatformEnvContext): Record<string, string> {
  const { name, namespace } = splitFunctionId(fn.name);
  const env: Record<string, string> = {
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
    // Lambda's.
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_VERSION: String(fn.version),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.spec.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    // Lambda runs in UTC; so do containers (OpenFaaS) unless told otherwise.
    TZ: ':UTC',
  };
  if (fn.spec.handler !== undefined) env._HANDLER = fn.spec.handler;
  if (fn.spec.runtime === 'node') env.AWS_EXECUTION_ENV = `AWS_Lambda_nodejs${nodeMajor}.x`;
  return env;
}
