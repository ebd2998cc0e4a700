// Lambda's function settings (Runtime, Handler, Timeout, MemorySize, Environment, ...) mapped onto a Nimbus
// function spec and entry, and a Nimbus function shown as Lambda's FunctionConfiguration.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FunctionSpecInput } from '../../config/function-spec.js';
import { splitFunctionId } from '../../config/namespace.js';
import type { FunctionRecord, FunctionVersion } from '../../store/store.js';
import { invalidParameter } from './errors.js';

/** The account id in every ARN Nimbus answers with. */
export const LAMBDA_ACCOUNT_ID = '000000000000';
/** Lambda's defaults for a function created without them. */
export const LAMBDA_DEFAULT_TIMEOUT_S = 3;
export const LAMBDA_DEFAULT_MEMORY_MB = 128;

/** Annotations where the Lambda settings Nimbus has no key of its own for are kept. */
export const ANNOTATION = {
  runtime: 'aws.lambda/runtime',
  role: 'aws.lambda/role',
  description: 'aws.lambda/description',
  codeSize: 'aws.lambda/code-size',
} as const;

export const SUPPORTED_RUNTIMES =
  'nodejs* (nodejs20.x, nodejs22.x, ...), python* (python3.12, ...), provided* (provided.al2023, provided.al2)';

export function functionArn(region: string, name: string): string {
  return `arn:aws:lambda:${region}:${LAMBDA_ACCOUNT_ID}:function:${name}`;
}

/** `name`, `name:qualifier`, `arn:aws:lambda:region:account:function:name[:qualifier]` or `account:function:name`. */
export function parseFunctionName(raw: string): { name: string; qualifier?: string } {
  let parts = raw.split(':');
  if (parts[0] === 'arn') parts = parts.slice(6);
  else if (parts.length >= 3 && parts[1] === 'function') parts = parts.slice(2);
  const [name = '', qualifier] = parts;
  return qualifier === undefined ? { name } : { name, qualifier };
}

/** The settings of a CreateFunction / UpdateFunctionConfiguration body that Nimbus uses. */
export interface LambdaSettings {
  Runtime?: unknown;
  Handler?: unknown;
  Role?: unknown;
  Description?: unknown;
  Timeout?: unknown;
  MemorySize?: unknown;
  Environment?: unknown;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`${field} must be a string.`);
  return value;
}

function optionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw invalidParameter(`${field} must be a whole number from ${min} to ${max}.`);
  return value;
}

function environmentOf(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  const variables = (value as { Variables?: unknown }).Variables;
  if (variables === undefined || variables === null) return {};
  if (typeof variables !== 'object' || Array.isArray(variables))
    throw invalidParameter('Environment.Variables must be a map of strings.');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(variables)) {
    if (typeof v !== 'string') throw invalidParameter(`Environment.Variables.${k} must be a string.`);
    out[k] = v;
  }
  return out;
}

/**
 * The spec of a function from Lambda settings, over `base` (the current spec, on an update). Throws
 * InvalidParameterValueException for what Nimbus cannot run.
 */
export function specFromSettings(settings: LambdaSettings, base?: FunctionRecord): FunctionSpecInput {
  const baseSpec = base?.spec;
  const annotations: Record<string, string> = { ...(baseSpec?.annotations ?? {}) };
  const runtimeName =
    optionalString(settings.Runtime, 'Runtime') ?? annotations[ANNOTATION.runtime] ?? runtimeOfSpec(baseSpec);
  if (!runtimeName) throw invalidParameter('Runtime is required for a .zip deployment package.');
  const runtime = nimbusRuntime(runtimeName);
  const handler = optionalString(settings.Handler, 'Handler') ?? baseSpec?.handler;
  if (!handler && runtime !== 'lambda')
    throw invalidParameter('Handler is required for a .zip deployment package.');
  const role = optionalString(settings.Role, 'Role');
  const description = optionalString(settings.Description, 'Description');
  annotations[ANNOTATION.runtime] = runtimeName;
  if (role !== undefined) annotations[ANNOTATION.role] = role;
  if (description !== undefined) annotations[ANNOTATION.description] = description;
  const timeoutS = optionalInt(settings.Timeout, 'Timeout', 1, 900);
  const memoryMb = optionalInt(settings.MemorySize, 'MemorySize', 128, 10_240);
  const environment = environmentOf(settings.Environment);
  // Keys Nimbus has beside Lambda's (scale, concurrency, async, ...) stay as they were.
  const {
    runtime: _r,
    handler: _h,
    handlerStyle: _s,
    command: _c,
    nodeVersion: _n,
    ...kept
  } = baseSpec ?? {};
  // nodejs22.x runs on Node.js 22 where the host has it (else the deploy is refused: docs/runtimes.md).
  const nodeMajor = /^nodejs(\d+)\.x$/.exec(runtimeName)?.[1];
  return {
    ...kept,
    runtime,
    ...(nodeMajor ? { nodeVersion: Number(nodeMajor) } : {}),
    ...(handler ? { handler } : {}),
    ...(runtime === 'lambda' ? {} : { handlerStyle: 'lambda' as const }),
    timeoutMs:
      (timeoutS ?? (baseSpec ? Math.ceil(baseSpec.timeoutMs / 1000) : LAMBDA_DEFAULT_TIMEOUT_S)) * 1000,
    memoryMb: memoryMb ?? baseSpec?.memoryMb ?? LAMBDA_DEFAULT_MEMORY_MB,
    environment: environment ?? baseSpec?.environment ?? {},
    annotations,
  };
}

function nimbusRuntime(runtime: string): 'node' | 'python' | 'lambda' {
  if (runtime.startsWith('nodejs')) return 'node';
  if (runtime.startsWith('python')) return 'python';
  if (runtime.startsWith('provided')) return 'lambda';
  throw invalidParameter(`Runtime ${runtime} is not supported by Nimbus; use ${SUPPORTED_RUNTIMES}.`);
}

function runtimeOfSpec(spec: FunctionRecord['spec'] | undefined): string | undefined {
  if (!spec) return undefined;
  return { node: 'nodejs20.x', python: 'python3.12', lambda: 'provided.al2023' }[spec.runtime as string];
}

/**
 * The bundle entry of a handler, checked against the unpacked package: `index.handler` → `index.js#handler`
 * (or .mjs/.cjs) for Node; Python and custom runtimes find their code themselves, so only its presence is
 * checked.
 */
export function entryFor(spec: FunctionSpecInput, bundleDir: string): string | undefined {
  const handler = spec.handler ?? '';
  if (spec.runtime === 'lambda') {
    const bootstrap = join(bundleDir, 'bootstrap');
    if (!existsSync(bootstrap) || !statSync(bootstrap).isFile())
      throw invalidParameter(
        'A provided.* runtime needs an executable "bootstrap" at the root of the .zip file.',
      );
    return undefined;
  }
  const dot = handler.lastIndexOf('.');
  if (dot <= 0 || dot === handler.length - 1)
    throw invalidParameter(`Handler "${handler}" must be "file.export" (for example index.handler).`);
  const module = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  if (spec.runtime === 'python') {
    const path = module.replaceAll('.', '/');
    if (!existsSync(join(bundleDir, `${path}.py`)) && !existsSync(join(bundleDir, path, '__init__.py')))
      throw invalidParameter(`Handler "${handler}": the .zip file has no ${path}.py.`);
    return undefined;
  }
  // A handler's file is in the package: its existence is never looked up outside it.
  if (module.startsWith('/') || module.split('/').includes('..'))
    throw invalidParameter(`Handler "${handler}" must name a file inside the .zip file (no "..").`);
  for (const ext of ['.js', '.mjs', '.cjs']) {
    if (existsSync(join(bundleDir, module + ext))) return `${module}${ext}#${exportName}`;
  }
  throw invalidParameter(
    `Handler "${handler}": the .zip file has no ${module}.js, ${module}.mjs or ${module}.cjs.`,
  );
}

/** `2026-11-27T18:47:13.555+0000`, as Lambda writes LastModified. */
function lastModified(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/** A UUID-shaped id that changes with every version (Lambda's RevisionId). */
function revisionId(fn: FunctionVersion): string {
  const h = createHash('sha256').update(`${fn.name}\0${fn.version}\0${fn.bundle}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Lambda's FunctionConfiguration of a Nimbus function (any function, however it was deployed): as $LATEST,
 * or (`published`) as its numbered version.
 */
export function functionConfiguration(
  fn: FunctionVersion,
  region: string,
  published = false,
): Record<string, unknown> {
  const annotations = fn.spec.annotations ?? {};
  const runtime = annotations[ANNOTATION.runtime] ?? runtimeOfSpec(fn.spec) ?? fn.spec.runtime;
  const name = splitFunctionId(fn.name).name;
  const version = published ? String(fn.version) : '$LATEST';
  return {
    FunctionName: name,
    FunctionArn: published ? `${functionArn(region, name)}:${version}` : functionArn(region, name),
    Runtime: runtime,
    Role: annotations[ANNOTATION.role] ?? `arn:aws:iam::${LAMBDA_ACCOUNT_ID}:role/nimbus`,
    Handler: fn.spec.handler ?? fn.entry,
    CodeSize: Number(annotations[ANNOTATION.codeSize] ?? 0),
    Description: annotations[ANNOTATION.description] ?? '',
    Timeout: Math.ceil(fn.spec.timeoutMs / 1000),
    MemorySize: fn.spec.memoryMb,
    LastModified: lastModified(fn.createdAt),
    CodeSha256: Buffer.from(fn.bundle, 'hex').toString('base64'),
    Version: version,
    Environment: { Variables: fn.spec.environment },
    TracingConfig: { Mode: 'PassThrough' },
    RevisionId: revisionId(fn),
    State: 'Active',
    LastUpdateStatus: 'Successful',
    PackageType: 'Zip',
    Architectures: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
    EphemeralStorage: { Size: 512 },
    LoggingConfig: { LogFormat: 'Text', LogGroup: `/aws/lambda/${fn.name}` },
  };
}
