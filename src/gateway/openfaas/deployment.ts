// OpenFaaS's FunctionDeployment (POST/PUT /system/functions) translated to a Nimbus deploy, and a Nimbus
// function shown as OpenFaaS's FunctionStatus. An `image` cannot be pulled: it names code Nimbus already
// has (a bundle's hash, a function, or the image a function was deployed as from stack.yml).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FunctionSpecInput } from '../../config/function-spec.js';
import { DEFAULT_NAMESPACE, functionId, namespaceParam, splitFunctionId } from '../../config/namespace.js';
import {
  IMAGE_ANNOTATION,
  OPENFAAS_NAMESPACE,
  specFromLimits,
  specFromWatchdogEnv,
} from '../../config/openfaas.js';
import type { DeployRequest } from '../../dispatch/deployer.js';
import type { Dispatcher } from '../../dispatch/dispatcher.js';
import { NimbusError } from '../../errors.js';
import type { Artifacts } from '../../store/artifacts.js';
import type { FunctionRecord, Store } from '../../store/store.js';

export interface FunctionDeployment {
  service?: unknown;
  image?: unknown;
  namespace?: unknown;
  envProcess?: unknown;
  envVars?: unknown;
  constraints?: unknown;
  secrets?: unknown;
  labels?: unknown;
  annotations?: unknown;
  limits?: unknown;
  requests?: unknown;
  readOnlyRootFilesystem?: unknown;
}

/** Spec keys that say how to run the code: they come with the code an image names. */
const CODE_KEYS = ['runtime', 'handler', 'handlerStyle', 'command', 'healthPath', 'unixSocket'] as const;

const HASH_IMAGE_RE = /^(?:sha256:)?([a-f0-9]{64})$/;

/**
 * The Nimbus namespace an OpenFaaS request names (empty and `openfaas-fn` are the default one), or
 * ERR_NAMESPACE_NOT_FOUND.
 */
export function openfaasNamespace(value: unknown, store: Store): string {
  return existingNamespace(openfaasNamespaceName(value), store);
}

/** The namespace OpenFaaS's `namespace` field or parameter names (`openfaas-fn`: the default), unchecked. */
export function openfaasNamespaceName(value: unknown): string {
  if (value !== undefined && value !== null && typeof value !== 'string')
    throw new NimbusError('ERR_REQUEST_INVALID', ['"namespace" must be a string']);
  return namespaceParam(value);
}

/** `namespace` when it exists, else ERR_NAMESPACE_NOT_FOUND. */
export function existingNamespace(namespace: string, store: Store): string {
  if (!store.getNamespace(namespace))
    throw new NimbusError('ERR_NAMESPACE_NOT_FOUND', [namespace.slice(0, 80)]);
  return namespace;
}

/** How OpenFaaS names a namespace: the default one is its `openfaas-fn`. */
export function openfaasName(namespace: string): string {
  return namespace === DEFAULT_NAMESPACE ? OPENFAAS_NAMESPACE : namespace;
}

export function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new NimbusError('ERR_REQUEST_INVALID', [`"${field}" must be a map of strings`]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) out[k] = String(v);
  return out;
}

/**
 * The code and run keys an image names, or ERR_OPENFAAS_IMAGE_UNKNOWN. A function name or an image annotation
 * is looked up among the functions `visible` lets through only (those the deploying credential may read): a
 * key of one namespace never copies another namespace's code by naming its function or its image.
 */
function resolveImage(
  image: string,
  /** The id of the function being deployed. */
  service: string,
  store: Store,
  artifacts: Artifacts,
  visible: (fn: FunctionRecord) => boolean,
): { bundle: string; entry?: string; code: Partial<FunctionSpecInput> } {
  const all = store.listFunctions().filter(visible);
  const fromFunction = (fn: FunctionRecord) => {
    const code: Record<string, unknown> = {};
    for (const key of CODE_KEYS) if (fn.spec[key] !== undefined) code[key] = fn.spec[key];
    return { bundle: fn.bundle, entry: fn.entry, code: code as Partial<FunctionSpecInput> };
  };
  const hash = HASH_IMAGE_RE.exec(image)?.[1];
  if (hash) {
    if (!artifacts.has(hash)) throw new NimbusError('ERR_OPENFAAS_IMAGE_UNKNOWN', [image.slice(0, 200)]);
    const same =
      all.find((fn) => fn.name === service && fn.bundle === hash) ?? all.find((fn) => fn.bundle === hash);
    if (same) return fromFunction(same);
    return { bundle: hash, code: detectRuntime(artifacts.path(hash)) };
  }
  const byImage = (fn: FunctionRecord) => fn.spec.annotations?.[IMAGE_ANNOTATION] === image;
  const found =
    all.find((fn) => fn.name === service && byImage(fn)) ??
    all.find((fn) => fn.name === image) ??
    all.find(byImage);
  if (!found) throw new NimbusError('ERR_OPENFAAS_IMAGE_UNKNOWN', [image.slice(0, 200)]);
  return fromFunction(found);
}

/** How to run a bundle no function uses yet, from what it holds. */
function detectRuntime(dir: string): Partial<FunctionSpecInput> {
  if (existsSync(join(dir, 'index.mjs'))) return { runtime: 'node' };
  if (existsSync(join(dir, 'handler.py'))) return { runtime: 'python' };
  if (existsSync(join(dir, 'bootstrap'))) return { runtime: 'lambda' };
  return {};
}

/** The function name a FunctionDeployment deploys (`service`), or ERR_REQUEST_INVALID. */
export function deploymentService(body: FunctionDeployment): string {
  if (typeof body.service !== 'string' || body.service === '')
    throw new NimbusError('ERR_REQUEST_INVALID', ['"service" (the function name) is required']);
  return body.service;
}

/**
 * The deploy a FunctionDeployment asks for, into `namespace` (the one the caller was authorized for: the
 * body's, else the query's). `visible`: the functions the caller may read, which an image may name.
 */
export function deploymentToDeploy(
  body: FunctionDeployment,
  namespace: string,
  store: Store,
  artifacts: Artifacts,
  visible: (fn: FunctionRecord) => boolean,
): DeployRequest {
  const service = deploymentService(body);
  if (typeof body.image !== 'string' || body.image === '')
    throw new NimbusError('ERR_REQUEST_INVALID', ['"image" is required']);
  const id = functionId(namespace, service);
  if (body.secrets !== undefined && body.secrets !== null && !Array.isArray(body.secrets))
    throw new NimbusError('ERR_REQUEST_INVALID', ['"secrets" must be a list of secret names']);
  const secrets = Array.isArray(body.secrets) ? body.secrets.map(String) : [];
  const { bundle, entry, code } = resolveImage(body.image, id, store, artifacts, visible);
  const envVars = stringMap(body.envVars, 'envVars');
  const labels = stringMap(body.labels, 'labels');
  const annotations = { ...stringMap(body.annotations, 'annotations'), [IMAGE_ANNOTATION]: body.image };
  const { spec: limits, problems } = specFromLimits(body.limits as { memory?: unknown; cpu?: unknown });
  if (problems.length > 0) throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [problems.join('; ')]);
  const envProcess =
    typeof body.envProcess === 'string' && body.envProcess !== '' ? body.envProcess : undefined;
  const run: Partial<FunctionSpecInput> = { ...code };
  // The classic watchdog forks fprocess per request with the body on stdin: Nimbus's exec runtime.
  if (envProcess && (run.runtime === undefined || run.runtime === 'exec' || run.runtime === 'http')) {
    run.runtime = run.runtime ?? 'exec';
    run.command = envProcess;
  }
  if (run.runtime === undefined)
    throw new NimbusError('ERR_OPENFAAS_IMAGE_UNKNOWN', [
      `${body.image.slice(0, 200)} (no runtime can be told from the bundle; set envProcess)`,
    ]);
  // What OpenFaaS does not know of (scale, async, concurrency, ...) stays as it was.
  const current = store.getFunction(id)?.spec;
  const kept: Record<string, unknown> = { ...(current ?? {}) };
  for (const key of [...CODE_KEYS, 'environment', 'labels', 'annotations', 'memoryMb', 'cpu', 'secrets'])
    delete kept[key];
  const spec: FunctionSpecInput = {
    ...(kept as FunctionSpecInput),
    ...run,
    environment: envVars,
    labels,
    annotations,
    ...limits,
    ...specFromWatchdogEnv(envVars),
    ...(secrets.length > 0 ? { secrets } : {}),
  };
  return { name: service, namespace, bundle, spec, ...(entry ? { entry } : {}) };
}

/** OpenFaaS's FunctionStatus of a Nimbus function. */
export function functionStatus(fn: FunctionRecord, dispatcher: Dispatcher): Record<string, unknown> {
  const live = dispatcher.get(fn.name);
  const stats = live?.pool.stats();
  const pending = live && live.fn.version === fn.version ? live.counts.invocations : 0;
  const { [IMAGE_ANNOTATION]: image, ...annotations } = fn.spec.annotations ?? {};
  const { name, namespace } = splitFunctionId(fn.name);
  return {
    name,
    image: image ?? `sha256:${fn.bundle}`,
    namespace: openfaasName(namespace),
    envProcess: fn.spec.command ?? '',
    envVars: fn.spec.environment,
    constraints: [],
    secrets: fn.spec.secrets ?? [],
    labels: fn.spec.labels,
    annotations,
    limits: { memory: `${fn.spec.memoryMb}Mi`, ...(fn.spec.cpu ? { cpu: String(fn.spec.cpu) } : {}) },
    requests: {},
    invocationCount: fn.invocations + pending,
    replicas: (stats?.instances ?? 0) + (stats?.starting ?? 0),
    availableReplicas: stats?.instances ?? 0,
    createdAt: new Date(fn.firstCreatedAt).toISOString(),
  };
}
