// The AWS Lambda REST API (2015-03-31), enough for @aws-sdk/client-lambda: create, get, list, update and
// delete functions from .zip packages, and Invoke (RequestResponse, Event, DryRun; Tail logs). Every call
// is SigV4-signed with a key from `nimbus keys create`. It is a translation: deploys go through the
// Deployer, invokes through invokeBuffered and the async queue, as the native API's do.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Access, allows, mayInvoke } from '../../auth/authenticate.js';
import type { KeyStore, Principal } from '../../auth/keys.js';
import type { Deployer } from '../../dispatch/deployer.js';
import type { Dispatcher } from '../../dispatch/dispatcher.js';
import { type BufferedResponse, invokeBuffered } from '../../dispatch/invoke.js';
import type { LogStore } from '../../logs/log-store.js';
import type { SubmitRequest } from '../../queue/async-system.js';
import type { Artifacts } from '../../store/artifacts.js';
import type { FunctionRecord, Store } from '../../store/store.js';
import { toNimbusError } from '../respond.js';
import type { ControlContext, RequestTarget, Router } from '../router.js';
import {
  invalidParameter,
  LambdaError,
  notFound,
  sendLambdaError,
  sendLambdaJson,
  toLambdaError,
} from './errors.js';
import { invokeComplete, payloadChunk } from './event-stream.js';
import {
  ANNOTATION,
  entryFor,
  functionArn,
  functionConfiguration,
  type LambdaSettings,
  parseFunctionName,
  specFromSettings,
} from './function-config.js';
import { sha256Hex, verifySigV4 } from './sigv4.js';
import { unzipInto } from './zip.js';

/** A synchronous Invoke's payload limit (Lambda's). */
export const INVOKE_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;
/** A management call's body limit: a 50 MB .zip file, base64 in JSON. */
export const MANAGEMENT_BODY_LIMIT_BYTES = 70 * 1024 * 1024;
/** `X-Amz-Log-Result` holds the last this many bytes of the call's log. */
export const TAIL_LOG_BYTES = 4096;

export interface LambdaApiDeps {
  store: Store;
  artifacts: Artifacts;
  dispatcher: Dispatcher;
  deployer: Deployer;
  logs: LogStore;
  /** Access keys (`nimbus keys create`): SigV4 verifies with their secrets, their scope decides what a call may do. */
  keys: KeyStore;
  submit: (request: SubmitRequest) => Promise<string>;
  /** Largest payload of an Event invoke (the platform's asyncBodyLimitBytes). */
  asyncBodyLimitBytes: number;
  now?: () => number;
}

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: RequestTarget;
  body: Buffer;
  region: string;
  requestId: string;
  principal: Principal;
}

type CallHandler = (call: Call) => Promise<void> | void;

/** Registers the Lambda routes on the control API's router. */
export function lambdaRoutes(deps: LambdaApiDeps): (router: Router) => void {
  const now = deps.now ?? Date.now;

  const secretOf = (id: string) => deps.keys.secret(id);

  /**
   * Authenticates (SigV4), checks the key's scope and reads the body, then runs the handler; every failure
   * answers in AWS's shape. `access`: what the key needs (`invoke`: may invoke the function named in the path).
   */
  const signed =
    (limitBytes: number, handler: CallHandler, access: Access | 'invoke') =>
    async ({ req, res, params, url }: ControlContext): Promise<void> => {
      const requestId = randomUUID();
      try {
        // Everything but the signature is checked before the body is read: a request that is not signed
        // by a known key, or by one without the scope, costs no read of its (up to 70 MB) body.
        const head = { method: req.method!, url: req.url!, headers: req.headers };
        const preflight = verifySigV4({ ...head, bodySha256: '' }, secretOf, {
          service: 'lambda',
          now: now(),
          headerOnly: true,
        });
        if (!preflight.ok) throw new LambdaError(403, preflight.type, preflight.message);
        const principal = deps.keys.get(preflight.accessKeyId);
        if (!principal || !permitted(principal, access, params.name))
          throw new LambdaError(
            403,
            'AccessDeniedException',
            `User: ${preflight.accessKeyId} is not authorized to perform this action (its scope is ${principal?.scope ?? 'none'}).`,
          );
        const body = await readBody(req, limitBytes);
        const verdict = verifySigV4({ ...head, bodySha256: sha256Hex(body) }, secretOf, {
          service: 'lambda',
          now: now(),
        });
        if (!verdict.ok) throw new LambdaError(403, verdict.type, verdict.message);
        await handler({ req, res, params, url, body, region: verdict.region, requestId, principal });
      } catch (err) {
        req.resume();
        sendLambdaError(res, toLambdaError(err), requestId);
      }
    };

  function current(raw: string, region: string): FunctionRecord {
    const { name, qualifier } = parseFunctionName(raw);
    const fn = deps.store.getFunction(name);
    if (!fn) throw notFound(functionArn(region, name));
    if (qualifier !== undefined && qualifier !== '$LATEST' && qualifier !== String(fn.version))
      throw notFound(`${functionArn(region, name)}:${qualifier}`);
    return fn;
  }

  /** Unpacks a base64 .zip into a new bundle in the artifacts store; returns its hash and size. */
  async function storeZip(zipBase64: unknown): Promise<{ bundle: string; bundleDir: string; size: number }> {
    if (typeof zipBase64 !== 'string' || zipBase64 === '')
      throw invalidParameter(
        'Code.ZipFile (the .zip file, base64) is required; S3 and image code are not supported.',
      );
    const zip = Buffer.from(zipBase64, 'base64');
    const tmp = deps.artifacts.tempDir();
    try {
      await unzipInto(zip, tmp, deps.artifacts.maxUnpackedBytes);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    const { hash } = await deps.artifacts.putDirectory(tmp);
    return { bundle: hash, bundleDir: deps.artifacts.path(hash), size: zip.length };
  }

  async function deploy(
    name: string,
    settings: LambdaSettings,
    base: FunctionRecord | undefined,
    code: { bundle: string; bundleDir: string; size?: number },
  ): Promise<FunctionRecord> {
    const spec = specFromSettings(settings, base);
    if (code.size !== undefined)
      spec.annotations = { ...spec.annotations, [ANNOTATION.codeSize]: String(code.size) };
    const entry = entryFor(spec, code.bundleDir);
    await deps.deployer.deploy({ name, bundle: code.bundle, spec, ...(entry ? { entry } : {}) });
    return deps.store.getFunction(name)!;
  }

  const createFunction: CallHandler = async ({ res, body, region, requestId, principal }) => {
    const input = parseJson(body) as LambdaSettings & {
      FunctionName?: unknown;
      Code?: { ZipFile?: unknown; S3Bucket?: unknown; ImageUri?: unknown };
      PackageType?: unknown;
    };
    if (typeof input.FunctionName !== 'string' || input.FunctionName === '')
      throw invalidParameter('FunctionName is required.');
    const { name } = parseFunctionName(input.FunctionName);
    if (!allows(principal, 'deploy', 'default', name))
      throw new LambdaError(
        403,
        'AccessDeniedException',
        `User: ${principal.id} is not authorized to create ${name}.`,
      );
    if (input.PackageType === 'Image') throw invalidParameter('PackageType Image is not supported; use Zip.');
    if (deps.store.getFunction(name))
      throw new LambdaError(409, 'ResourceConflictException', `Function already exist: ${name}`);
    const code = await storeZip(input.Code?.ZipFile);
    const fn = await deploy(name, input, undefined, code);
    sendLambdaJson(res, 201, functionConfiguration(fn, region), requestId);
  };

  const getFunction: CallHandler = ({ res, params, region, requestId }) => {
    const fn = current(params.name!, region);
    sendLambdaJson(
      res,
      200,
      { Configuration: functionConfiguration(fn, region), Code: { RepositoryType: 'Nimbus' }, Tags: {} },
      requestId,
    );
  };

  const getConfiguration: CallHandler = ({ res, params, region, requestId }) => {
    sendLambdaJson(res, 200, functionConfiguration(current(params.name!, region), region), requestId);
  };

  const listFunctions: CallHandler = ({ res, url, region, requestId }) => {
    const maxItems = Math.min(Math.max(Number(url.searchParams.get('MaxItems') ?? 50) || 50, 1), 10_000);
    const marker = url.searchParams.get('Marker') ?? '';
    const all = deps.store.listFunctions().filter((fn) => fn.name > marker);
    const page = all.slice(0, maxItems);
    sendLambdaJson(
      res,
      200,
      {
        Functions: page.map((fn) => functionConfiguration(fn, region)),
        ...(all.length > page.length ? { NextMarker: page.at(-1)!.name } : {}),
      },
      requestId,
    );
  };

  const deleteFunction: CallHandler = async ({ res, params, region, requestId }) => {
    const fn = current(params.name!, region);
    await deps.deployer.remove(fn.name);
    deps.logs.forget(fn.name);
    sendLambdaJson(res, 204, undefined, requestId);
  };

  const updateCode: CallHandler = async ({ res, params, body, region, requestId }) => {
    const fn = current(params.name!, region);
    const input = parseJson(body) as {
      ZipFile?: unknown;
      S3Bucket?: unknown;
      ImageUri?: unknown;
      DryRun?: unknown;
    };
    const code = await storeZip(input.ZipFile);
    if (input.DryRun === true) {
      entryFor(specFromSettings({}, fn), code.bundleDir);
      sendLambdaJson(res, 200, functionConfiguration(fn, region), requestId);
      return;
    }
    const updated = await deploy(fn.name, {}, fn, code);
    sendLambdaJson(res, 200, functionConfiguration(updated, region), requestId);
  };

  const updateConfiguration: CallHandler = async ({ res, params, body, region, requestId }) => {
    const fn = current(params.name!, region);
    const input = parseJson(body) as LambdaSettings;
    const updated = await deploy(fn.name, input, fn, {
      bundle: fn.bundle,
      bundleDir: deps.artifacts.path(fn.bundle),
    });
    sendLambdaJson(res, 200, functionConfiguration(updated, region), requestId);
  };

  /** Runs a synchronous call: the answer, and the base64 tail of its log when asked for. */
  /** Runs one Invoke; `onChunk` takes a successful answer's payload as the function writes it. */
  async function callFunction(
    { req, body, requestId }: Call,
    fn: FunctionRecord,
    onChunk?: (chunk: Buffer) => void,
  ): Promise<{ answer: { body: Buffer; functionError?: string }; logResult?: string }> {
    const tail = String(req.headers['x-amz-log-type'] ?? '').toLowerCase() === 'tail';
    const startSeq = deps.logs.seq;
    const started = performance.now();
    const result = await invokeBuffered(
      deps.dispatcher,
      fn.name,
      {
        method: 'POST',
        path: '/',
        headers: [
          ['content-type', 'application/json'],
          ['x-call-id', requestId],
        ],
        body,
        rawEvent: true,
      },
      { maxResponseBytes: INVOKE_PAYLOAD_LIMIT_BYTES, ...(onChunk ? { onChunk } : {}) },
    );
    const durationMs = performance.now() - started;
    const answer = invokeAnswer(result, fn, requestId);
    if (!tail) return { answer };
    // Output reaches the platform on the instance's stdout pipe, beside the answer on its socket: one
    // turn of the event loop lets lines written before the answer arrive.
    await new Promise((resolve) => setImmediate(resolve));
    return { answer, logResult: tailLog(deps.logs, fn, result, startSeq, requestId, durationMs) };
  }

  /** The function an Invoke names, and its invocation type once DryRun and bad types are answered. */
  function invocationType(req: IncomingMessage): 'RequestResponse' | 'Event' | 'DryRun' {
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (type !== 'RequestResponse' && type !== 'Event' && type !== 'DryRun')
      throw invalidParameter(`X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not ${type}.`);
    return type;
  }

  const invoke: CallHandler = async (call) => {
    const { req, res, params, body, region, requestId } = call;
    const fn = current(params.name!, region);
    const type = invocationType(req);
    if (type === 'DryRun') {
      sendLambdaJson(res, 204, undefined, requestId);
      return;
    }
    checkJson(body);
    if (type === 'Event') {
      if (body.length > deps.asyncBodyLimitBytes)
        throw new LambdaError(
          413,
          'RequestTooLargeException',
          `Request must be smaller than ${deps.asyncBodyLimitBytes} bytes for the InvokeFunction operation`,
        );
      const callId = await deps.submit({
        fn: fn.name,
        method: 'POST',
        path: '/',
        headers: [['content-type', 'application/json']],
        body,
        source: 'http',
        rawEvent: true,
      });
      sendLambdaJson(res, 202, undefined, callId);
      return;
    }
    const { answer, logResult } = await callFunction(call, fn);
    const headers: Record<string, string> = { 'x-amz-executed-version': '$LATEST' };
    if (answer.functionError) headers['x-amz-function-error'] = answer.functionError;
    if (logResult !== undefined) headers['x-amz-log-result'] = logResult;
    res.writeHead(200, {
      ...headers,
      'x-amzn-requestid': requestId,
      'content-type': 'application/json',
      'content-length': answer.body.length,
    });
    res.end(answer.body);
  };

  /**
   * InvokeWithResponseStream in its event-stream framing: each chunk the function writes goes out as a
   * PayloadChunk as it arrives (a streamifyResponse handler's writes; a plain handler's result is one
   * chunk), then InvokeComplete, with the error when the function failed (even after some chunks).
   */
  const invokeStream: CallHandler = async (call) => {
    const { req, res, params, body, region, requestId } = call;
    const fn = current(params.name!, region);
    const type = invocationType(req);
    if (type === 'DryRun') {
      sendLambdaJson(res, 204, undefined, requestId);
      return;
    }
    if (type === 'Event') throw invalidParameter('InvokeWithResponseStream does not take the Event type.');
    checkJson(body);
    const open = (): void => {
      if (res.headersSent) return;
      res.writeHead(200, {
        'x-amz-executed-version': '$LATEST',
        'x-amzn-requestid': requestId,
        'content-type': 'application/vnd.amazon.eventstream',
      });
    };
    let result: Awaited<ReturnType<typeof callFunction>>;
    try {
      result = await callFunction(call, fn, (chunk) => {
        open();
        res.write(payloadChunk(chunk));
      });
    } catch (err) {
      // Before any chunk the error is the Invoke's answer; after, the stream can only end with it.
      if (!res.headersSent) throw err;
      const e = err as Error & { code?: string };
      res.end(invokeComplete({ ErrorCode: e.code ?? 'ServiceException', ErrorDetails: e.message }));
      return;
    }
    const { answer, logResult } = result;
    open();
    const log = logResult === undefined ? {} : { LogResult: logResult };
    if (!answer.functionError) {
      if (answer.body.length > 0) res.write(payloadChunk(answer.body));
      res.end(invokeComplete(log));
      return;
    }
    let error: { errorType?: unknown; errorMessage?: unknown } = {};
    try {
      error = JSON.parse(answer.body.toString('utf8')) as typeof error;
    } catch {}
    res.end(
      invokeComplete({
        ErrorCode: typeof error.errorType === 'string' ? error.errorType : answer.functionError,
        ErrorDetails:
          typeof error.errorMessage === 'string' ? error.errorMessage : answer.body.toString('utf8'),
        ...log,
      }),
    );
  };

  const accountSettings: CallHandler = ({ res, requestId }) => {
    const functions = deps.store.listFunctions();
    const codeSize = functions.reduce(
      (sum, fn) => sum + Number(fn.spec.annotations?.[ANNOTATION.codeSize] ?? 0),
      0,
    );
    sendLambdaJson(
      res,
      200,
      {
        AccountLimit: {
          TotalCodeSize: 80_530_636_800,
          CodeSizeUnzipped: 262_144_000,
          CodeSizeZipped: 52_428_800,
          ConcurrentExecutions: 1000,
          UnreservedConcurrentExecutions: 1000,
        },
        AccountUsage: { TotalCodeSize: codeSize, FunctionCount: functions.length },
      },
      requestId,
    );
  };

  return (router) => {
    const publicRoute = { access: 'public' } as const;
    router
      .add(
        'POST',
        '/2015-03-31/functions',
        signed(MANAGEMENT_BODY_LIMIT_BYTES, createFunction, 'deploy'),
        publicRoute,
      )
      .add('GET', '/2015-03-31/functions', signed(0, listFunctions, 'read'), publicRoute)
      .add('GET', '/2015-03-31/functions/', signed(0, listFunctions, 'read'), publicRoute)
      .add('GET', '/2015-03-31/functions/:name', signed(0, getFunction, 'read'), publicRoute)
      .add('DELETE', '/2015-03-31/functions/:name', signed(0, deleteFunction, 'deploy'), publicRoute)
      .add(
        'GET',
        '/2015-03-31/functions/:name/configuration',
        signed(0, getConfiguration, 'read'),
        publicRoute,
      )
      .add(
        'PUT',
        '/2015-03-31/functions/:name/configuration',
        signed(MANAGEMENT_BODY_LIMIT_BYTES, updateConfiguration, 'deploy'),
        publicRoute,
      )
      .add(
        'PUT',
        '/2015-03-31/functions/:name/code',
        signed(MANAGEMENT_BODY_LIMIT_BYTES, updateCode, 'deploy'),
        publicRoute,
      )
      .add(
        'POST',
        '/2015-03-31/functions/:name/invocations',
        signed(INVOKE_PAYLOAD_LIMIT_BYTES, invoke, 'invoke'),
        publicRoute,
      )
      .add(
        'POST',
        '/2021-11-15/functions/:name/response-streaming-invocations',
        signed(INVOKE_PAYLOAD_LIMIT_BYTES, invokeStream, 'invoke'),
        publicRoute,
      )
      .add('GET', '/2016-08-19/account-settings', signed(0, accountSettings, 'read'), publicRoute)
      .add('GET', '/2016-08-19/account-settings/', signed(0, accountSettings, 'read'), publicRoute);
  };
}

/** The whole body, or RequestTooLargeException past `limit` (0: a body is not expected, 64 KiB allowed). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const max = limit === 0 ? 64 * 1024 : limit;
  const tooLarge = () =>
    new LambdaError(
      413,
      'RequestTooLargeException',
      `Request must be smaller than ${max} bytes for this operation`,
    );
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is read and dropped, so the 413 reaches the client.
      if (size > max) chunks.length = 0;
      else chunks.push(chunk);
    });
    req.on('end', () => (size > max ? reject(tooLarge()) : resolve(Buffer.concat(chunks, size))));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {}
  throw new LambdaError(
    400,
    'InvalidRequestContentException',
    'Could not parse request body into json: expected an object.',
  );
}

/** An Invoke payload must be JSON (or empty, which the handler sees as `{}`). */
function checkJson(body: Buffer): void {
  if (body.length === 0) return;
  try {
    JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new LambdaError(
      400,
      'InvalidRequestContentException',
      `Could not parse request body into json: ${(err as Error).message}`,
    );
  }
}

/**
 * The Invoke answer for a call's outcome: the function's JSON, or its error with X-Amz-Function-Error.
 * Failures of the platform (not the function) throw, to be answered as AWS errors.
 */
function invokeAnswer(
  result: BufferedResponse,
  fn: FunctionRecord,
  requestId: string,
): { body: Buffer; functionError?: string } {
  const error = result.error;
  if (error) {
    const functionError = (errorType: string, errorMessage: string, trace: string[] = []) => ({
      body: Buffer.from(JSON.stringify({ errorType, errorMessage, trace })),
      functionError: 'Unhandled',
    });
    switch (error.code) {
      case 'ERR_HANDLER_TIMEOUT':
        return functionError(
          'Sandbox.Timedout',
          `${new Date().toISOString()} ${requestId} Task timed out after ${(fn.spec.timeoutMs / 1000).toFixed(2)} seconds`,
        );
      case 'ERR_INSTANCE_CRASHED':
        return functionError('Runtime.ExitError', `RequestId: ${requestId} Error: ${error.message}`);
      case 'ERR_INSTANCE_OOM':
        return functionError('Runtime.OutOfMemory', `RequestId: ${requestId} Error: ${error.message}`);
      case 'ERR_HANDLER_FAILED': {
        // The handler's own error (thrown after its answer had begun): its type from the stack's first line.
        const cause = (error.cause ?? {}) as { message?: string; stack?: string };
        const trace = cause.stack?.split('\n') ?? [];
        const type = /^([A-Za-z_$][\w$]*)(?::|$)/.exec(trace[0] ?? '')?.[1] ?? 'Error';
        return functionError(type, cause.message ?? error.message, trace);
      }
      case 'ERR_HANDLER_INVALID_RESPONSE':
        return functionError('Runtime.InvalidResponse', error.message);
      default:
        throw toNimbusError(error);
    }
  }
  const headers = result.headers;
  let marked: string | undefined;
  for (let i = 0; i < headers.length; i += 2)
    if (headers[i] === 'x-amz-function-error') marked = headers[i + 1];
  if (marked) return { body: result.body, functionError: marked };
  // A function not written in Lambda's style that failed over HTTP: its answer is still the caller's.
  if (result.status >= 500) return { body: result.body, functionError: 'Unhandled' };
  return { body: result.body };
}

/** Base64 of the last 4 KB of the call's log, framed as Lambda frames it (START, lines, END, REPORT). */
function tailLog(
  logs: LogStore,
  fn: FunctionRecord,
  result: BufferedResponse,
  afterSeq: number,
  requestId: string,
  durationMs: number,
): string {
  const lines =
    result.instanceId === undefined ? [] : logs.query(fn.name, { afterSeq, instance: result.instanceId });
  const text = [
    `START RequestId: ${requestId} Version: $LATEST`,
    ...lines.map((l) => l.text),
    `END RequestId: ${requestId}`,
    `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.max(1, Math.ceil(durationMs))} ms\tMemory Size: ${fn.spec.memoryMb} MB\t`,
    '',
  ].join('\n');
  const bytes = Buffer.from(text);
  return bytes.subarray(Math.max(0, bytes.length - TAIL_LOG_BYTES)).toString('base64');
}

/** Whether a key may make a call that needs `access` (for per-function calls, on the function in the path). */
function permitted(principal: Principal, access: Access | 'invoke', rawName: string | undefined): boolean {
  const fn = rawName === undefined ? undefined : parseFunctionName(rawName).name;
  if (access === 'invoke') return fn !== undefined && mayInvoke(principal, fn);
  return allows(principal, access, 'default', fn);
}
