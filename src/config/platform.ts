// The platform config: defaults < config file < environment (NIMBUS_*) < flags, validated once and frozen.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { NimbusError } from '../errors.js';
import { formatZodIssues } from './function-spec.js';

export const platformConfigSchema = z.strictObject({
  /** Address the gateway listens on. Default 127.0.0.1. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port the gateway listens on; 0 picks a free one. Default 8080. */
  port: z.number().int().min(0).max(65_535).default(8080),
  /** Data directory (SQLite file, bundles, admin token). Default `.nimbus` in the working directory. */
  dataDir: z.string().min(1).default('.nimbus'),
  /** Largest synchronous request body in bytes. Default 6 MiB (Lambda's). */
  bodyLimitBytes: z
    .number()
    .int()
    .min(1)
    .default(6 * 1024 * 1024),
  /** On SIGINT/SIGTERM, in-flight requests get this long to finish. Default 10 s. */
  shutdownGraceMs: z.number().int().min(0).default(10_000),
  /** Admin token for the control API; generated and stored in the data dir when absent. */
  adminToken: z.string().min(16).optional(),
  /** Include handler stack traces in error responses. Default false. */
  debug: z.boolean().default(false),
  /** A folder of function folders deployed at start (used by `npm start` for examples/). */
  examplesDir: z.string().optional(),
  /** How long an instance may take to start and load its function. Default 10 s. */
  startTimeoutMs: z.number().int().min(100).default(10_000),
  /** Print one line per request to stderr. Default false. */
  accessLog: z.boolean().default(false),
});

export type PlatformConfigInput = z.input<typeof platformConfigSchema>;
export type PlatformConfig = Readonly<z.output<typeof platformConfigSchema>>;

const ENV_KEYS: Record<string, { key: keyof PlatformConfigInput; type: 'string' | 'number' | 'boolean' }> = {
  NIMBUS_HOST: { key: 'host', type: 'string' },
  NIMBUS_PORT: { key: 'port', type: 'number' },
  NIMBUS_DATA: { key: 'dataDir', type: 'string' },
  NIMBUS_BODY_LIMIT_BYTES: { key: 'bodyLimitBytes', type: 'number' },
  NIMBUS_SHUTDOWN_GRACE_MS: { key: 'shutdownGraceMs', type: 'number' },
  NIMBUS_ADMIN_TOKEN: { key: 'adminToken', type: 'string' },
  NIMBUS_DEBUG: { key: 'debug', type: 'boolean' },
};

/** Reads the NIMBUS_* variables that map onto config keys (the caller passes the environment in). */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): PlatformConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, { key, type }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    out[key] = type === 'number' ? Number(raw) : type === 'boolean' ? raw === '1' || raw === 'true' : raw;
  }
  return out as PlatformConfigInput;
}

export function readConfigFile(path: string): PlatformConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NimbusError('ERR_CONFIG_INVALID', [`cannot read ${path}: ${(err as Error).message}`]);
  }
  const value = parseYaml(text) as unknown;
  if (value !== null && typeof value !== 'object')
    throw new NimbusError('ERR_CONFIG_INVALID', [`${path} must hold a mapping`]);
  return (value ?? {}) as PlatformConfigInput;
}

/** Merges the layers (later wins), validates, resolves paths and freezes. */
export function loadPlatformConfig(...layers: PlatformConfigInput[]): PlatformConfig {
  const merged = Object.assign(
    {},
    ...layers.map((l) => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined))),
  );
  const result = platformConfigSchema.safeParse(merged);
  if (!result.success) throw new NimbusError('ERR_CONFIG_INVALID', [formatZodIssues(result.error)]);
  const config = { ...result.data, dataDir: resolve(result.data.dataDir) };
  return Object.freeze(config);
}
