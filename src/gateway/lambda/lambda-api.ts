// The AWS Lambda REST API (2015-03-31), enough for @aws-sdk/client-lambda: create, get, list, update and
// delete functions from .zip packages, and Invoke (RequestResponse, Event, DryRun; Tail logs). Every call
// is SigV4-signed with a key from `nimbus keys create`. It is a translation: deploys go through the
// Deployer, invokes through invokeBuffered and the async queue, as the native API's do.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Access, allows, mayInvoke } from '../../auth/authenticate.js';
import type { KeyStore, Principal } from '../../auth/keys.js';
import { acknowledged } from '../../cluster/pending-writes.js';
import { DEFAULT_NAMESPACE, functionId, splitFunctionId } from '../../config/namespace.js';
import type { Deployer } from '../../dispatch/deployer.js';
import type { Dispatcher, FunctionEntry } from '../../dispatch/dispatcher.js';
import { type BufferedResponse, invokeBuffered } from '../../dispatch/invoke.js';
import type { VersionRouter } from '../../dispatch/versions.js';
import { NimbusError } from '../../errors.js';
import type { LogStore } from '../../logs/log-store.js';
import { callerTraceHeaders } from '../../observability/trace-context.js';
import type { SubmitRequest } from '../../queue/async-system.js';
import type { Artifacts } from '../../store/artifacts.js';
import type { AliasRecord, FunctionRecord, FunctionVersion, Store } from '../../store/store.js';
import { type BodyBudget, type BodyHold, readWholeBody } from '../body-budget.js';
import { parseClientJson } from '../client-json.js';
import { ownNamespace } from '../control-api.js';
import { sees } from '../functions-api.js';
import { dropUnreadBody, toNimbusError } from '../respond.js';
import type { ControlContext, RequestTarget, Router } from '../router.js';
import { checkAlias } from '../versions-api.js';
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
  /** Calls to a version or an alias (Invoke's Qualifier). */
  versions: VersionRouter;
  /** Largest payload of an Event invoke (the platform's asyncBodyLimitBytes). */
  asyncBodyLimitBytes: number;
  /** What request bodies read whole may take together. */
  bodies?: BodyBudget;
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
  /** The namespace the key acts in (its own; the default one for keys of no namespace). */
  namespace: string;
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
        const namespace = principal ? ownNamespace(principal) : DEFAULT_NAMESPACE;
        if (!principal || !permitted(principal, access, namespace, params.name))
          throw new LambdaError(
            403,
            'AccessDeniedException',
            `User: ${preflight.accessKeyId} is not authorized to perform this action (its scope is ${principal?.scope ?? 'none'}).`,
          );
        const body = await readBody(req, limitBytes, deps.bodies?.hold(res));
        const verdict = verifySigV4({ ...head, bodySha256: sha256Hex(body) }, secretOf, {
          service: 'lambda',
          now: now(),
        });
        if (!verdict.ok) throw new LambdaError(403, verdict.type, verdict.message);
        await handler({
          req,
          res,
          params,
          url,
          body,
          region: verdict.region,
          requestId,
          principal,
          namespace,
        });
      } catch (err) {
        dropUnreadBody(req, res);
        sendLambdaError(res, toLambdaError(err), requestId);
      }
    };

  /** The function a call names (in the key's namespace), current; a qualifier must be one it has. */
  function current(call: Call, raw = call.params.name!): FunctionRecord {
    const { name, qualifier } = nameAndQualifier(call, raw);
    const fn = deps.store.getFunction(functionId(call.namespace, name));
    if (!fn) throw notFound(functionArn(call.region, name));
    if (qualifier !== undefined && qualified(fn, qualifier) === undefined)
      throw notFound(`${functionArn(call.region, name)}:${qualifier}`);
    return fn;
  }

  /** The name and qualifier: `name:qualifier` in the path, or `?Qualifier=`. */
  function nameAndQualifier(call: Call, raw: string): { name: string; qualifier?: string } {
    const parsed = parseFunctionName(raw);
    const qualifier = parsed.qualifier ?? call.url.searchParams.get('Qualifier') ?? undefined;
    return qualifier === undefined ? { name: parsed.name } : { name: parsed.name, qualifier };
  }

  /** The version a qualifier names ($LATEST: the current one; a number; an alias's own version). */
  function qualified(fn: FunctionRecord, qualifier: string): FunctionVersion | undefined {
    if (qualifier === '$LATEST') return fn;
    if (/^\d+$/.test(qualifier)) return deps.store.getVersion(fn.name, Number(qualifier));
    const alias = deps.store.getAlias(fn.name, qualifier);
    return alias && deps.store.getVersion(fn.name, alias.version);
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
    namespace: string,
    name: string,
    settings: LambdaSettings,
    base: FunctionRecord | undefined,
    code: { bundle: string; bundleDir: string; size?: number },
  ): Promise<FunctionRecord> {
    const spec = specFromSettings(settings, base);
    if (code.size !== undefined)
      spec.annotations = { ...spec.annotations, [ANNOTATION.codeSize]: String(code.size) };
    const entry = entryFor(spec, code.bundleDir);
    await deps.deployer.deploy({ name, namespace, bundle: code.bundle, spec, ...(entry ? { entry } : {}) });
    return deps.store.getFunction(functionId(namespace, name))!;
  }

  const createFunction: CallHandler = async ({ res, body, region, requestId, principal, namespace }) => {
    const input = parseJson(body) as LambdaSettings & {
      FunctionName?: unknown;
      Code?: { ZipFile?: unknown; S3Bucket?: unknown; ImageUri?: unknown };
      PackageType?: unknown;
    };
    if (typeof input.FunctionName !== 'string' || input.FunctionName === '')
      throw invalidParameter('FunctionName is required.');
    const { name } = parseFunctionName(input.FunctionName);
    if (!allows(principal, 'deploy', namespace, name))
      throw new LambdaError(
        403,
        'AccessDeniedException',
        `User: ${principal.id} is not authorized to create ${name}.`,
      );
    if (input.PackageType === 'Image') throw invalidParameter('PackageType Image is not supported; use Zip.');
    if (deps.store.getFunction(functionId(namespace, name)))
      throw new LambdaError(409, 'ResourceConflictException', `Function already exist: ${name}`);
    const code = await storeZip(input.Code?.ZipFile);
    const fn = await deploy(namespace, name, input, undefined, code);
    sendLambdaJson(res, 201, functionConfiguration(fn, region), requestId);
  };

  /** The configuration a Get names: the current version's, or (with a qualifier) that version's. */
  const configurationOf = (call: Call): Record<string, unknown> => {
    const fn = current(call);
    const { qualifier } = nameAndQualifier(call, call.params.name!);
    if (qualifier === undefined || qualifier === '$LATEST') return functionConfiguration(fn, call.region);
    return functionConfiguration(qualified(fn, qualifier)!, call.region, true);
  };

  const getFunction: CallHandler = (call) => {
    sendLambdaJson(
      call.res,
      200,
      { Configuration: configurationOf(call), Code: { RepositoryType: 'Nimbus' }, Tags: {} },
      call.requestId,
    );
  };

  const getConfiguration: CallHandler = (call) => {
    sendLambdaJson(call.res, 200, configurationOf(call), call.requestId);
  };

  const listFunctions: CallHandler = ({ res, url, region, requestId, namespace }) => {
    const maxItems = Math.min(Math.max(Number(url.searchParams.get('MaxItems') ?? 50) || 50, 1), 10_000);
    const marker = url.searchParams.get('Marker') ?? '';
    const all = deps.store
      .listFunctions()
      .filter((fn) => splitFunctionId(fn.name).namespace === namespace && fn.name > marker);
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

  const deleteFunction: CallHandler = async (call) => {
    const { res, requestId } = call;
    const fn = current(call);
    await deps.deployer.remove(fn.name);
    deps.logs.forget(fn.name);
    sendLambdaJson(res, 204, undefined, requestId);
  };

  const updateCode: CallHandler = async (call) => {
    const { res, body, region, requestId, namespace } = call;
    const fn = current(call);
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
    const updated = await deploy(namespace, splitFunctionId(fn.name).name, {}, fn, code);
    sendLambdaJson(res, 200, functionConfiguration(updated, region), requestId);
  };

  const updateConfiguration: CallHandler = async (call) => {
    const { res, body, region, requestId, namespace } = call;
    const fn = current(call);
    const input = parseJson(body) as LambdaSettings;
    const updated = await deploy(namespace, splitFunctionId(fn.name).name, input, fn, {
      bundle: fn.bundle,
      bundleDir: deps.artifacts.path(fn.bundle),
    });
    sendLambdaJson(res, 200, functionConfiguration(updated, region), requestId);
  };

  /** Runs a synchronous call: the answer, and the base64 tail of its log when asked for. */
  /** Runs one Invoke; `onChunk` takes a successful answer's payload as the function writes it. */
  async function callFunction(
    { req, body, requestId }: Call,
    entry: FunctionEntry,
    onChunk?: (chunk: Buffer) => void,
  ): Promise<{ answer: { body: Buffer; functionError?: string }; logResult?: string }> {
    const fn = entry.fn;
    const tail = String(req.headers['x-amz-log-type'] ?? '').toLowerCase() === 'tail';
    const startSeq = deps.logs.seq;
    const started = performance.now();
    const result = await invokeBuffered(
      deps.dispatcher,
      entry.key,
      {
        method: 'POST',
        path: '/',
        headers: [
          ['content-type', 'application/json'],
          ['x-call-id', requestId],
          ...callerTraceHeaders(req.headers),
        ],
        body,
        rawEvent: true,
      },
      {
        maxResponseBytes: INVOKE_PAYLOAD_LIMIT_BYTES,
        ...(onChunk ? { onChunk } : {}),
        span: { name: `Invoke ${fn.name}`, kind: 'server', attributes: { 'nimbus.call_id': requestId } },
      },
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

  /** The entry an Invoke runs on: the current version, or the one its qualifier (version, alias) picks. */
  function target(call: Call): FunctionEntry {
    const fn = current(call);
    const { name, qualifier } = nameAndQualifier(call, call.params.name!);
    if (qualifier === undefined || qualifier === '$LATEST') {
      const entry = deps.dispatcher.get(fn.name);
      if (!entry) throw notFound(functionArn(call.region, name));
      return entry;
    }
    const entry = deps.versions.resolve(fn.name, qualifier);
    if (entry instanceof NimbusError) throw notFound(`${functionArn(call.region, name)}:${qualifier}`);
    return entry;
  }

  const invoke: CallHandler = async (call) => {
    const { req, res, body, requestId } = call;
    const entry = target(call);
    const fn = entry.fn;
    const type = invocationType(req);
    if (type === 'DryRun') {
      sendLambdaJson(res, 204, undefined, requestId);
      return;
    }
    checkJson(body);
    if (type === 'Event') {
      if (entry.key !== fn.name)
        throw invalidParameter('An Event invoke runs the current version ($LATEST); drop the Qualifier.');
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
        headers: [['content-type', 'application/json'], ...callerTraceHeaders(req.headers)],
        body,
        source: 'http',
        rawEvent: true,
      });
      sendLambdaJson(res, 202, undefined, callId);
      return;
    }
    const { answer, logResult } = await callFunction(call, entry);
    const headers: Record<string, string> = { 'x-amz-executed-version': executedVersion(call, entry) };
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
    const { req, res, body, requestId } = call;
    const entry = target(call);
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
        'x-amz-executed-version': executedVersion(call, entry),
        'x-amzn-requestid': requestId,
        'content-type': 'application/vnd.amazon.eventstream',
      });
    };
    let result: Awaited<ReturnType<typeof callFunction>>;
    try {
      result = await callFunction(call, entry, (chunk) => {
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

  const accountSettings: CallHandler = ({ res, requestId, principal, namespace }) => {
    // The key's account is its namespace (and of it, the functions it reaches): no count of anyone else's.
    const functions = deps.store
      .listFunctions()
      .filter((fn) => splitFunctionId(fn.name).namespace === namespace && sees(principal, fn.name));
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

  /** What x-amz-executed-version says: $LATEST unless a qualifier chose a version. */
  function executedVersion(call: Call, entry: FunctionEntry): string {
    const { qualifier } = nameAndQualifier(call, call.params.name!);
    return qualifier === undefined || qualifier === '$LATEST' ? '$LATEST' : String(entry.fn.version);
  }

  // Versions: every Nimbus deploy is already an immutable numbered version, so PublishVersion names the
  // current one.
  const publishVersion: CallHandler = (call) => {
    const fn = current(call);
    sendLambdaJson(call.res, 201, functionConfiguration(fn, call.region, true), call.requestId);
  };

  const listVersions: CallHandler = (call) => {
    const fn = current(call);
    const versions = deps.store.listVersions(fn.name);
    sendLambdaJson(
      call.res,
      200,
      {
        Versions: [
          functionConfiguration(fn, call.region),
          ...versions.map((v) => functionConfiguration(v, call.region, true)),
        ],
      },
      call.requestId,
    );
  };

  const aliasConfiguration = (call: Call, alias: AliasRecord): Record<string, unknown> => {
    const name = splitFunctionId(alias.fn).name;
    const weights = Object.fromEntries(
      Object.entries(alias.weights).map(([v, percent]) => [v, percent / 100]),
    );
    return {
      AliasArn: `${functionArn(call.region, name)}:${alias.name}`,
      Name: alias.name,
      FunctionVersion: String(alias.version),
      Description: alias.description ?? '',
      ...(Object.keys(weights).length > 0 ? { RoutingConfig: { AdditionalVersionWeights: weights } } : {}),
      RevisionId: `${alias.updatedAt}`,
    };
  };

  /** FunctionVersion ($LATEST: the current one) and RoutingConfig's fractions as Nimbus's alias input. */
  const aliasInput = (
    fn: FunctionRecord,
    input: { FunctionVersion?: unknown; Description?: unknown; RoutingConfig?: unknown },
    old: AliasRecord | undefined,
  ) => {
    const raw = input.FunctionVersion ?? (old ? String(old.version) : undefined);
    if (typeof raw !== 'string' || !(raw === '$LATEST' || /^\d+$/.test(raw)))
      throw invalidParameter('FunctionVersion must be a version number or $LATEST.');
    const routing = input.RoutingConfig as { AdditionalVersionWeights?: unknown } | undefined;
    let weights: Record<string, number> = old?.weights ?? {};
    if (routing !== undefined) {
      const given = routing?.AdditionalVersionWeights ?? {};
      if (typeof given !== 'object' || given === null || Array.isArray(given))
        throw invalidParameter('RoutingConfig.AdditionalVersionWeights must map versions to weights.');
      weights = {};
      for (const [v, w] of Object.entries(given)) {
        if (typeof w !== 'number' || w < 0 || w > 1)
          throw invalidParameter('An additional version weight is a number from 0.0 to 1.0.');
        weights[v] = Math.round(w * 100_000) / 1000;
      }
    }
    const description = input.Description ?? old?.description;
    if (description !== undefined && typeof description !== 'string')
      throw invalidParameter('Description must be a string.');
    return {
      version: raw === '$LATEST' ? fn.version : Number(raw),
      weights,
      ...(description === undefined ? {} : { description }),
    };
  };

  const putAlias = (call: Call, fn: FunctionRecord, name: string, old: AliasRecord | undefined) => {
    const input = parseJson(call.body) as {
      FunctionVersion?: unknown;
      Description?: unknown;
      RoutingConfig?: unknown;
    };
    let record: AliasRecord;
    try {
      record = checkAlias(deps.store, fn.name, name, aliasInput(fn, input, old), Date.now());
    } catch (err) {
      if (err instanceof NimbusError) throw invalidParameter(err.message);
      throw err;
    }
    const alias = deps.store.putAlias(record);
    deps.versions.changed(fn.name);
    return alias;
  };

  /** In a cluster, an alias change answers once JetStream acknowledged it. */
  const aliasDurable = (fn: FunctionRecord, alias: string) =>
    acknowledged(async () => deps.store.sync?.(), `alias ${splitFunctionId(fn.name).name}@${alias}`);

  const createAlias: CallHandler = async (call) => {
    const fn = current(call);
    const input = parseJson(call.body) as { Name?: unknown };
    if (typeof input.Name !== 'string') throw invalidParameter('Name is required.');
    if (deps.store.getAlias(fn.name, input.Name))
      throw new LambdaError(409, 'ResourceConflictException', `Alias already exists: ${input.Name}`);
    const alias = putAlias(call, fn, input.Name, undefined);
    await aliasDurable(fn, alias.name);
    sendLambdaJson(call.res, 201, aliasConfiguration(call, alias), call.requestId);
  };

  const existingAlias = (call: Call, fn: FunctionRecord): AliasRecord => {
    const alias = deps.store.getAlias(fn.name, call.params.alias!);
    if (!alias)
      throw notFound(`${functionArn(call.region, splitFunctionId(fn.name).name)}:${call.params.alias}`);
    return alias;
  };

  const getAlias: CallHandler = (call) => {
    const fn = current(call);
    sendLambdaJson(call.res, 200, aliasConfiguration(call, existingAlias(call, fn)), call.requestId);
  };

  const updateAlias: CallHandler = async (call) => {
    const fn = current(call);
    const old = existingAlias(call, fn);
    const alias = putAlias(call, fn, old.name, old);
    await aliasDurable(fn, alias.name);
    sendLambdaJson(call.res, 200, aliasConfiguration(call, alias), call.requestId);
  };

  const listAliases: CallHandler = (call) => {
    const fn = current(call);
    const only = call.url.searchParams.get('FunctionVersion');
    const aliases = deps.store
      .listAliases(fn.name)
      .filter((a) => only === null || String(a.version) === only);
    sendLambdaJson(
      call.res,
      200,
      { Aliases: aliases.map((a) => aliasConfiguration(call, a)) },
      call.requestId,
    );
  };

  const deleteAlias: CallHandler = async (call) => {
    const fn = current(call);
    existingAlias(call, fn);
    deps.store.deleteAlias(fn.name, call.params.alias!);
    deps.versions.changed(fn.name);
    await aliasDurable(fn, call.params.alias!);
    sendLambdaJson(call.res, 204, undefined, call.requestId);
  };

  return (router) => {
    const publicRoute = { access: 'public', compat: 'lambda' } as const;
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
      .add(
        'POST',
        '/2015-03-31/functions/:name/versions',
        signed(MANAGEMENT_BODY_LIMIT_BYTES, publishVersion, 'deploy'),
        publicRoute,
      )
      .add('GET', '/2015-03-31/functions/:name/versions', signed(0, listVersions, 'read'), publicRoute)
      .add(
        'POST',
        '/2015-03-31/functions/:name/aliases',
        signed(MANAGEMENT_BODY_LIMIT_BYTES, createAlias, 'deploy'),
        publicRoute,
      )
      .add('GET', '/2015-03-31/functions/:name/aliases', signed(0, listAliases, 'read'), publicRoute)
      .add('GET', '/2015-03-31/functions/:name/aliases/:alias', signed(0, getAlias, 'read'), publicRoute)
      .add(
        'PUT',
        '/2015-03-31/functions/:name/aliases/:alias',
        signed(MANAGEMENT_BODY_LIMIT_BYTES, updateAlias, 'deploy'),
        publicRoute,
      )
      .add(
        'DELETE',
        '/2015-03-31/functions/:name/aliases/:alias',
        signed(0, deleteAlias, 'deploy'),
        publicRoute,
      )
      .add('GET', '/2016-08-19/account-settings', signed(0, accountSettings, 'read'), publicRoute)
      .add('GET', '/2016-08-19/account-settings/', signed(0, accountSettings, 'read'), publicRoute);
  };
}

/**
 * The whole body, or RequestTooLargeException past `limit` (0: a body is not expected, 64 KiB allowed); taken
 * from `hold`'s budget as it arrives (TooManyRequestsException at once when the budget has no room).
 */
function readBody(req: IncomingMessage, limit: number, hold?: BodyHold): Promise<Buffer> {
  const max = limit === 0 ? 64 * 1024 : limit;
  // The connection ends with the answer: the rest of the body is not read (it may never end).
  const tooLarge = () =>
    new LambdaError(
      413,
      'RequestTooLargeException',
      `Request must be smaller than ${max} bytes for this operation`,
      { connection: 'close' },
    );
  return readWholeBody(req, max, tooLarge, hold);
}

function parseJson(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const value = parseClientJson(body.toString('utf8'));
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
  fn: FunctionVersion,
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
  fn: FunctionVersion,
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
function permitted(
  principal: Principal,
  access: Access | 'invoke',
  namespace: string,
  rawName: string | undefined,
): boolean {
  const fn = rawName === undefined ? undefined : parseFunctionName(rawName).name;
  if (access === 'invoke') return fn !== undefined && mayInvoke(principal, fn, namespace);
  return allows(principal, access, namespace, fn);
}
