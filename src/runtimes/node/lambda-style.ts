// Lambda handler style over HTTP: a request becomes a function-URL payload 2.0 event, and the handler's
// result is mapped back to status, headers and body the way Lambda does (reference/lambda.md §4).
import { randomUUID } from 'node:crypto';
import type { LoadMessage } from '../../instances/protocol.js';
import { xrayTraceHeader } from '../../observability/trace-context.js';

export interface LambdaHttpEvent {
  version: '2.0';
  routeKey: '$default';
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: Record<string, unknown>;
  body?: string;
  isBase64Encoded: boolean;
}

/** Builds the payload 2.0 event from a request head (NUL-separated fields) and its whole body. */
export function toLambdaEvent(
  fields: readonly string[],
  body: Buffer,
  isText: (contentType: string | undefined, body: Buffer) => boolean,
  now: Date = new Date(),
): LambdaHttpEvent {
  const method = fields[0]!;
  const target = fields[1]!;
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const rawQueryString = q === -1 ? '' : target.slice(q + 1);
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (let i = 2; i < fields.length; i += 2) {
    const name = fields[i]!.toLowerCase();
    const value = fields[i + 1]!;
    if (name === 'cookie') {
      cookies = (cookies ?? []).concat(value.split(/;\s*/).filter(Boolean));
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const event: LambdaHttpEvent = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: 'anonymous',
      apiId: 'nimbus',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0],
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: headers['x-forwarded-for']?.split(',')[0]?.trim() ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: headers['x-call-id'] ?? randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: formatClfTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (cookies) event.cookies = cookies;
  if (rawQueryString) event.queryStringParameters = parseQuery(rawQueryString);
  if (body.length > 0) {
    const text = isText(headers['content-type'], body);
    event.body = text ? body.toString('utf8') : body.toString('base64');
    event.isBase64Encoded = !text;
  }
  return event;
}

function parseQuery(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(raw)) out[key] = key in out ? `${out[key]},${value}` : value;
  return out;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, as requestContext.time carries it. */
export function formatClfTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** What a Lambda context says of the function itself: the same for every call of one instance. */
export interface LambdaFunctionInfo {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  logGroupName: string;
  logStreamName: string;
}

/** The `context` a Lambda handler gets (Lambda's Node runtime's, legacy `done/succeed/fail` included). */
export interface LambdaContext extends LambdaFunctionInfo {
  callbackWaitsForEmptyEventLoop: boolean;
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
  /** The call's trace in X-Ray's form (docs/observability.md), as Lambda's Node runtime gives it. */
  xRayTraceId?: string;
  /** Set by callLambda: each answers the call (the first answer wins). */
  done: (err?: unknown, result?: unknown) => void;
  succeed: (result?: unknown) => void;
  fail: (err?: unknown) => void;
}

/** The function's part of every context, from its LOAD message and its environment (the platform's variables). */
export function lambdaFunctionInfo(
  load: Pick<LoadMessage, 'name' | 'version' | 'memoryMb'>,
  env: Readonly<Record<string, string | undefined>>,
): LambdaFunctionInfo {
  const region = env.AWS_REGION ?? 'us-east-1';
  return {
    functionName: load.name,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? String(load.version),
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${load.name}`,
    memoryLimitInMB: String(load.memoryMb),
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? `/aws/lambda/${load.name}`,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? `${load.name}/${load.version}`,
  };
}

/**
 * The context of one call: its request id is the call id (`x-call-id`), and its remaining time counts down
 * to `deadline` (ms since the epoch: when the request reached the instance plus the function's timeoutMs,
 * the moment the gateway answers 504). The call's trace goes where Lambda puts it: in X-Ray's form as
 * `xRayTraceId` and `_X_AMZN_TRACE_ID` (set per call, as Lambda's Node runtime does; with `concurrency`
 * above 1 calls share the environment, so read the context or the `traceparent` header).
 */
export function lambdaContext(
  info: LambdaFunctionInfo,
  fields: readonly string[],
  deadline: number,
): LambdaContext {
  let requestId: string | undefined;
  let traceparent: string | undefined;
  for (let i = 2; i < fields.length; i += 2) {
    if (fields[i] === 'x-call-id') requestId = fields[i + 1];
    else if (fields[i] === 'traceparent') traceparent = fields[i + 1];
  }
  const xRayTraceId = traceparent === undefined ? undefined : xrayTraceHeader(traceparent);
  if (xRayTraceId === undefined) delete process.env._X_AMZN_TRACE_ID;
  else process.env._X_AMZN_TRACE_ID = xRayTraceId;
  const unset = (): void => {
    throw new Error('context.done/succeed/fail are set when the handler is called');
  };
  return {
    ...info,
    callbackWaitsForEmptyEventLoop: true,
    awsRequestId: requestId ?? randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unset,
    succeed: unset,
    fail: unset,
    ...(xRayTraceId === undefined ? {} : { xRayTraceId }),
  };
}

/** Maps a handler's result to a response head (status, name, value, ...) and body, as Lambda infers it. */
export function fromLambdaResult(result: unknown): { head: string[]; body: Buffer } {
  if (
    result &&
    typeof result === 'object' &&
    typeof (result as { statusCode?: unknown }).statusCode === 'number'
  ) {
    const r = result as {
      statusCode: number;
      headers?: Record<string, unknown>;
      cookies?: unknown[];
      body?: unknown;
      isBase64Encoded?: boolean;
    };
    const head = [String(r.statusCode)];
    for (const [name, value] of Object.entries(r.headers ?? {})) {
      if (value !== undefined && value !== null) head.push(name.toLowerCase(), String(value));
    }
    for (const cookie of r.cookies ?? []) head.push('set-cookie', String(cookie));
    let body: Buffer;
    if (r.body === undefined || r.body === null) body = Buffer.alloc(0);
    else if (typeof r.body === 'string') body = Buffer.from(r.body, r.isBase64Encoded ? 'base64' : 'utf8');
    else body = Buffer.from(JSON.stringify(r.body));
    return { head, body };
  }
  return {
    head: ['200', 'content-type', 'application/json'],
    body: Buffer.from(JSON.stringify(result ?? null)),
  };
}
