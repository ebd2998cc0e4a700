// The one registry of user-facing error codes: each has an HTTP status and a message that says what to do.

export const ERRORS = {
  ERR_FUNCTION_NOT_FOUND: { status: 404, message: 'function "%s" does not exist; `nimbus ls` lists them' },
  ERR_FUNCTION_NAME_INVALID: {
    status: 400,
    message:
      'function name "%s" is invalid: use 1-63 lowercase letters, digits and "-", starting with a letter and not ending with "-"',
  },
  ERR_FUNCTION_SPEC_INVALID: { status: 400, message: 'function spec is invalid: %s' },
  ERR_FUNCTION_LOAD_FAILED: {
    status: 400,
    message: 'function "%s" failed to load, so %s: %s',
  },
  ERR_FUNCTION_PRIVATE: {
    status: 401,
    message:
      'function "%s" is private: send a key that may invoke it as "Authorization: Bearer <secret>" (`nimbus keys create --invoke NAME`)',
  },
  ERR_FUNCTION_FORBIDDEN: {
    status: 403,
    message: 'key "%s" may not invoke function "%s"; create one that may: `nimbus keys create --invoke NAME`',
  },
  ERR_FUNCTION_UNAVAILABLE: {
    status: 502,
    message: 'function "%s" could not start an instance: %s',
  },
  ERR_VERSION_NOT_FOUND: {
    status: 404,
    message: 'function "%s" has no version %s; `nimbus versions NAME` lists them',
  },
  ERR_ALIAS_NOT_FOUND: {
    status: 404,
    message: 'function "%s" has no alias "%s"; `nimbus alias ls NAME` lists them',
  },
  ERR_ALIAS_INVALID: { status: 400, message: 'alias is invalid: %s' },
  ERR_BUNDLE_NOT_FOUND: {
    status: 404,
    message: 'bundle %s has not been uploaded; PUT it to /api/v1/bundles/{sha256} first',
  },
  ERR_BUNDLE_INVALID: { status: 400, message: 'bundle is invalid: %s' },
  ERR_BUNDLE_TOO_LARGE: {
    status: 413,
    message:
      'bundle unpacks to more than %s (bundleMaxUnpackedBytes); leave out what the function does not need, or raise the limit in the platform config',
  },
  ERR_BUNDLE_HASH_MISMATCH: {
    status: 400,
    message: 'bundle content hashes to %s, not to %s as the URL says; upload the bytes the CLI built',
  },
  ERR_BUILD_FAILED: { status: 400, message: 'build failed: %s' },
  ERR_BUILD_PIP_FAILED: {
    status: 400,
    message: 'pip could not install requirements.txt (fix the file, or install python3 and pip): %s',
  },
  ERR_BUILD_NPM_FAILED: {
    status: 400,
    message:
      'npm could not install the dependencies in %s (fix package.json or the lockfile, or run npm there yourself): %s',
  },
  ERR_BUILD_HANDLER_EXPORT: {
    status: 400,
    message:
      '%s exports %s but %s: set "handler: %s" (file.export) in nimbus.yml, or export the handler as "handler" or as the default',
  },
  ERR_RUNTIME_MISSING: {
    status: 400,
    message:
      'runtime "%s" needs %s, which is not installed on this host (looked in %s); install it or configure another',
  },
  ERR_RUNTIME_NODE_VERSION: {
    status: 400,
    message:
      'function "%s" asks for Node.js %s, which is not installed on this host (looked in %s; Nimbus runs on Node.js %s): install it, name its binary in nodeBinaries, or set nodeVersionFallback: host to run it on the platform\'s node',
  },
  ERR_REQUEST_BODY_TOO_LARGE: {
    status: 413,
    message: 'request body is larger than the limit of %s bytes; send less or raise the limit',
  },
  ERR_REQUEST_INVALID: { status: 400, message: 'request is invalid: %s' },
  ERR_REQUEST_HEADERS_TOO_LARGE: {
    status: 431,
    message: 'the request line and headers are larger than the limit (16 KiB); send fewer or shorter headers',
  },
  ERR_REQUEST_BODIES_FULL: {
    status: 429,
    message:
      'the gateway is reading its limit of request bodies (%s MiB, bufferedBodiesMaxBytes) from other clients; retry after the Retry-After delay',
  },
  ERR_REQUEST_TIMEOUT: {
    status: 408,
    message: 'the request was not received in time; send it faster or check the connection',
  },
  ERR_QUEUE_FULL: {
    status: 429,
    message: 'function "%s" has too many requests waiting; retry after the Retry-After delay',
  },
  ERR_CAPACITY_EXHAUSTED: {
    status: 429,
    message:
      'no instance of "%s" can start: instances use %s of the %s MiB memory budget and none is idle; retry after the Retry-After delay or raise memoryBudgetMb',
  },
  ERR_HANDLER_FAILED: { status: 500, message: 'function "%s" threw: %s' },
  ERR_HANDLER_TIMEOUT: {
    status: 504,
    message:
      'function "%s" did not answer within %s ms; its instance was stopped (raise timeoutMs if needed)',
  },
  ERR_HANDLER_INVALID_RESPONSE: {
    status: 502,
    message:
      'function "%s" returned an invalid response: %s; answer with a status from 200 to 599 and header names and values HTTP allows',
  },
  ERR_INSTANCE_CRASHED: {
    status: 502,
    message:
      'the instance of function "%s" exited while serving this request (%s); a new one serves the next',
  },
  ERR_INSTANCE_OOM: {
    status: 502,
    message:
      'the instance of function "%s" ran out of memory (its limit is %s MiB) and was stopped; a new one serves the next request; raise memoryMb if it needs more',
  },
  ERR_SANDBOX_UNAVAILABLE: {
    status: 500,
    message:
      'sandbox: required is set, but instances cannot be sandboxed here (%s); install bubblewrap and allow user namespaces, or set sandbox: auto',
  },
  ERR_SANDBOX_NONE: {
    status: 503,
    message:
      'instances cannot start here: %s; install bubblewrap (or run Nimbus as root, so instances run as an unprivileged user), or start with --sandbox off to run functions unsandboxed on purpose',
  },
  ERR_SANDBOX_PUBLIC_UNISOLATED: {
    status: 500,
    message:
      'instances are not isolated on this host, so Nimbus listens on a loopback address only, not on %s; install bubblewrap, or start with --sandbox off to listen there with unsandboxed functions on purpose',
  },
  ERR_PLATFORM_LISTEN: {
    status: 500,
    message: 'cannot listen on %s:%s (%s); pass another --port (0 picks a free one) or stop what holds it',
  },
  ERR_PLATFORM_SHUTTING_DOWN: {
    status: 503,
    message: 'Nimbus is shutting down; retry against another node or later',
  },
  ERR_AUTH_REQUIRED: {
    status: 401,
    message:
      'this route needs a credential: send "Authorization: Bearer <admin token or key secret>" (see `nimbus up` output, `nimbus keys create`)',
  },
  ERR_AUTH_INVALID: {
    status: 401,
    message: 'the credential is not valid (wrong, revoked or malformed); check the token or key secret',
  },
  ERR_AUTH_FORBIDDEN: {
    status: 403,
    message: 'key "%s" (scope %s) may not do this: it needs %s; use a key that may (`nimbus keys create`)',
  },
  ERR_ROUTE_NOT_FOUND: { status: 404, message: 'no route for %s %s; see /openapi.json' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, message: '%s is not allowed on %s' },
  ERR_CONFIG_INVALID: { status: 400, message: 'configuration is invalid: %s' },
  ERR_CLI_USAGE: { status: 400, message: '%s' },
  ERR_CLI_UNREACHABLE: {
    status: 503,
    message: 'cannot reach Nimbus at %s (%s); start it with `nimbus up` or pass --url',
  },
  ERR_ASYNC_CALLBACK_URL_INVALID: {
    status: 400,
    message:
      'X-Callback-Url "%s" is not allowed (%s): give an absolute http(s) URL of a host that callbackAllow permits',
  },
  ERR_ASYNC_QUEUE_FULL: {
    status: 429,
    message:
      'function "%s" has as many async calls waiting as it may (%s calls, %s bytes); retry after the Retry-After delay, or raise async.maxQueued / async.maxQueuedBytes',
  },
  ERR_ASYNC_ENQUEUE_FAILED: {
    status: 503,
    message: 'the call to function "%s" could not be written durably (%s); it was not queued, retry',
  },
  ERR_CALL_NOT_FOUND: {
    status: 404,
    message: 'call "%s" does not exist or is past its retention; `nimbus calls ls` lists calls',
  },
  ERR_CALL_NOT_DEAD: {
    status: 409,
    message: 'call "%s" is %s: only dead calls can be redriven',
  },
  ERR_CALL_RETRIES_EXHAUSTED: {
    status: 500,
    message:
      'function "%s" failed on all %s attempts; the call is in the dead letters (`nimbus calls redrive`)',
  },
  ERR_CALL_EXPIRED: {
    status: 504,
    message:
      'the call was not done within maxEventAgeMs (%s ms) of function "%s"; it is in the dead letters (`nimbus calls redrive`)',
  },
  ERR_NAMESPACE_NOT_FOUND: {
    status: 404,
    message: 'namespace "%s" does not exist; `nimbus ns ls` lists them, `nimbus ns create NAME` makes one',
  },
  ERR_NAMESPACE_NAME_INVALID: {
    status: 400,
    message:
      'namespace name "%s" is invalid: use 1-63 lowercase letters, digits and "-", starting with a letter and not ending with "-"',
  },
  ERR_NAMESPACE_EXISTS: {
    status: 409,
    message: 'namespace "%s" exists already; `nimbus ns set` changes its quotas',
  },
  ERR_NAMESPACE_NOT_EMPTY: {
    status: 409,
    message: 'namespace "%s" still holds %s functions and %s keys; remove them first',
  },
  ERR_NAMESPACE_DEFAULT: { status: 409, message: 'the default namespace cannot be removed' },
  ERR_QUOTA_FUNCTIONS: {
    status: 429,
    message:
      'namespace "%s" holds its maximum of %s functions (quota maxFunctions); remove one or raise it with `nimbus ns set`',
  },
  ERR_QUOTA_INSTANCES: {
    status: 429,
    message:
      'namespace "%s" runs its maximum of %s instances (quota maxInstances); retry after the Retry-After delay or raise it',
  },
  ERR_QUOTA_MEMORY: {
    status: 429,
    message:
      'namespace "%s" would pass its maximum of %s MiB of instance memory (quota maxMemoryMb); retry after the Retry-After delay or raise it',
  },
  ERR_QUOTA_RPS: {
    status: 429,
    message:
      'namespace "%s" is at its maximum of %s invocations per second (quota maxRps); retry after the Retry-After delay',
  },
  ERR_SECRET_NOT_FOUND: {
    status: 404,
    message:
      'secret "%s" does not exist; create it first: `nimbus secret create NAME` (`nimbus secret ls` lists them)',
  },
  ERR_SECRET_EXISTS: {
    status: 409,
    message:
      'secret "%s" exists already; change it with `nimbus secret update NAME` (faas-cli secret update)',
  },
  ERR_SECRET_INVALID: { status: 400, message: 'secret is invalid: %s' },
  ERR_SECRET_IN_USE: {
    status: 409,
    message: 'secret "%s" is used by %s; deploy them without it (or remove them) before removing it',
  },
  ERR_STACK_INVALID: { status: 400, message: 'stack file %s is invalid: %s' },
  ERR_STACK_LANG_UNSUPPORTED: {
    status: 400,
    message: 'function "%s": lang "%s" is not supported; Nimbus builds these natively: %s (docs/compat.md)',
  },
  ERR_OPENFAAS_IMAGE_UNKNOWN: {
    status: 400,
    message:
      'image "%s" names no uploaded bundle and no deployed function: give "sha256:<bundle hash>" of a bundle PUT to /api/v1/bundles, or a function\'s name, or deploy with `nimbus deploy -f stack.yml`',
  },
  ERR_OPENWHISK_AUTH_REQUIRED: {
    status: 401,
    message:
      'The resource requires authentication, which was not supplied with the request: send "Authorization: Basic base64(<key id>:<secret>)", the api_key "<id>:<secret>" of `nimbus keys create --json`',
  },
  ERR_OPENWHISK_NAMESPACE_UNKNOWN: {
    status: 404,
    message:
      'namespace "%s" does not exist; `nimbus ns ls` lists them ("_" names your key\'s own, "default" for the admin token)',
  },
  ERR_OPENWHISK_NOT_FOUND: {
    status: 404,
    message: 'The requested resource does not exist: %s "%s"; GET /api/v1/namespaces/_/%s lists them',
  },
  ERR_OPENWHISK_ACTIVATION_NOT_FOUND: {
    status: 404,
    message:
      'The requested resource does not exist: activation "%s" is still running, past its retention (callRetentionMs) or unknown',
  },
  ERR_OPENWHISK_ENTITY_EXISTS: {
    status: 409,
    message: 'resource already exists: %s "%s"; send ?overwrite=true to replace it',
  },
  ERR_OPENWHISK_REQUEST_INVALID: { status: 400, message: 'The request content was malformed: %s' },
  ERR_OPENWHISK_KIND_UNSUPPORTED: {
    status: 400,
    message:
      'kind "%s" is not supported; use nodejs:default, nodejs:20, nodejs:18, python:3, python:3.11 or sequence',
  },
  ERR_OPENWHISK_PACKAGES_UNSUPPORTED: {
    status: 501,
    message:
      'packages are not supported yet (%s): Nimbus serves one namespace without packages; name actions without a package',
  },
  ERR_OPENWHISK_WEB_UNAUTHORIZED: {
    status: 401,
    message:
      'web action "%s" requires authentication: send its secret in X-Require-Whisk-Auth (or OpenWhisk credentials when require-whisk-auth is true)',
  },
  ERR_OPENWHISK_WEB_PARAMS: {
    status: 400,
    message:
      'Request defines parameters that are not allowed (reserved properties or final parameters: %s); rename them',
  },
  ERR_OPENWHISK_WEB_RESPONSE: {
    status: 400,
    message: 'the web action did not return a valid %s response (%s); see docs/compat.md, web actions',
  },
  ERR_OPENWHISK_WEB_FAILED: {
    status: 400,
    message:
      'There was an error processing your request: activation %s failed (%s); its logs: GET /api/v1/namespaces/_/activations/%s/logs',
  },
  ERR_OPENWHISK_FEED_INVALID: { status: 400, message: 'the alarms feed cannot do this: %s' },
  ERR_KEY_NOT_FOUND: { status: 404, message: 'access key "%s" does not exist; `nimbus keys ls` lists them' },
  ERR_AZURE_APP_INVALID: { status: 400, message: 'the Azure Functions app cannot be deployed: %s' },
  ERR_AZURE_APP_LOAD_FAILED: {
    status: 400,
    message:
      'the Azure Functions app failed while registering its functions (run it with `func start` to see why): %s',
  },
  ERR_AZURE_ROUTE_INVALID: {
    status: 400,
    message:
      'route "%s" of Azure function "%s" does not parse: %s; see the route template syntax in docs/compat.md',
  },
  ERR_AZURE_UNSUPPORTED: {
    status: 400,
    message:
      'the Azure Functions app uses what Nimbus does not support: %s (docs/compat.md lists what it does)',
  },
  ERR_AZURE_MODEL_UNSUPPORTED: {
    status: 400,
    message:
      '%s: Nimbus runs Azure Functions apps of the Node.js v4 programming model (host.json, and package.json with @azure/functions in its dependencies)',
  },
  ERR_AZURE_SETTINGS_INVALID: { status: 400, message: 'local.settings.json cannot be used: %s' },
  ERR_AZURE_KEY_REQUIRED: {
    status: 401,
    message:
      '%s %s of function "%s" has authLevel %s: send a Nimbus invoke key as the x-functions-key header or the code query parameter (`nimbus keys create --invoke NAME`)',
  },
  ERR_AZURE_ROUTE_TIMEOUT: {
    status: 400,
    message:
      'path %s took longer than %s ms to match against the routes of function "%s" (a regex() constraint or a segment of several parameters backtracks on it); send a shorter path, or simplify the route template',
  },
  ERR_AZURE_ROUTE_NOT_FOUND: {
    status: 404,
    message: 'the Azure Functions app has no function for %s %s: %s',
  },
  ERR_CLUSTER_UNREACHABLE: {
    status: 503,
    message:
      'cannot reach NATS at %s (%s); start nats-server with JetStream (`nats-server -js`) or fix --cluster / NIMBUS_CLUSTER',
  },
  ERR_CLUSTER_MASTER_KEY_MISMATCH: {
    status: 500,
    message:
      "this node's master key (fingerprint %s) is not the cluster's (%s): give every node the same masterKey / NIMBUS_MASTER_KEY",
  },
  ERR_CLUSTER_WRITE_FAILED: {
    status: 503,
    message: 'the change to "%s" was not acknowledged by JetStream (%s); nothing was promised, retry',
  },
  ERR_TOPIC_INVALID: {
    status: 400,
    message:
      'topic "%s" is not one to publish to: use tokens of letters, digits, "-" and "_" separated by ".", no wildcards, the first token not "nimbus" or "_INBOX" (the platform\'s own subjects)',
  },
  ERR_TOPIC_NO_SUBSCRIBER: {
    status: 504,
    message:
      'no function answered a request on topic "%s" in time; deploy one with `topics: [%s]` or publish without --request',
  },
  ERR_INTERNAL: {
    status: 500,
    message: 'internal error (%s); the platform log has the details, please report it',
  },
  ERR_UI_NOT_BUILT: {
    status: 503,
    message: 'the dashboard is not built (no %s); run `npm run build`, then reload',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error a user can meet: a stable code, the HTTP status it maps to, and a message that says what to do. */
export class NimbusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (for example Retry-After on 429). */
  readonly headers: Readonly<Record<string, string>>;
  /** What filled the message's `%s` places, in order (for layers that answer in another protocol's words). */
  readonly args: readonly (string | number)[];

  constructor(
    code: ErrorCode,
    args: readonly (string | number)[] = [],
    options: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(
      formatMessage(ERRORS[code].message, args),
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = 'NimbusError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.headers = options.headers ?? {};
    this.args = args;
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

function formatMessage(template: string, args: readonly (string | number)[]): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ''));
}
