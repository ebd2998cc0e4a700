// The function spec (nimbus.yml): one zod schema gives its types, defaults and validation.
import { z } from 'zod';
import { NimbusError } from '../errors.js';

/** DNS label: what a function name must be (it appears in URLs, paths and process names). */
export const FUNCTION_NAME_RE = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;

const scaleSchema = z.strictObject({
  /** Instances kept running even when idle. Default 0 (scale to zero). */
  min: z.number().int().min(0).max(1000).default(0),
  /** Upper bound of instances. Default 10. */
  max: z.number().int().min(1).max(1000).default(10),
  /** An instance idle this long is stopped (down to `min`). Default 10 minutes, as Lambda. */
  idleTimeoutMs: z.number().int().min(100).max(86_400_000).default(DEFAULT_IDLE_TIMEOUT_MS),
});

export const functionSpecSchema = z
  .strictObject({
    /** Language runtime; only `node` exists so far. */
    runtime: z.enum(['node']).default('node'),
    /** Source file, optionally with an export: `index.ts`, `src/app.js`, `index.handler`. Default: detected. */
    handler: z.string().min(1).max(200).optional(),
    /** Environment variables given to the function. */
    environment: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid variable name'),
        z.union([z.string(), z.number(), z.boolean()]),
      )
      .default({})
      .transform((env) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]))),
    /** A request running longer is answered 504 and its instance stopped. Default 30 s. */
    timeoutMs: z.number().int().min(1).max(900_000).default(DEFAULT_TIMEOUT_MS),
    /** Requests one instance serves at once. Default 1 (exact, like Lambda). */
    concurrency: z.number().int().min(1).max(1000).default(1),
    /** Memory of one instance in MiB (a limit where the sandbox can enforce it). Default 256. */
    memoryMb: z.number().int().min(32).max(10_240).default(256),
    /** Requests that may wait for a free instance; past it callers get 429. Default 100. */
    maxQueue: z.number().int().min(0).max(100_000).default(100),
    /** A private function is invoked only with the admin token. Default false. */
    private: z.boolean().default(false),
    scale: scaleSchema.default({ min: 0, max: 10, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS }),
  })
  .superRefine((spec, ctx) => {
    if (spec.scale.min > spec.scale.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['scale', 'min'],
        message: `must not exceed scale.max (${spec.scale.max})`,
      });
    }
  });

export type FunctionSpecInput = z.input<typeof functionSpecSchema>;
export type FunctionSpec = z.output<typeof functionSpecSchema>;

/** Validates a spec; throws ERR_FUNCTION_SPEC_INVALID naming every bad field. */
export function parseFunctionSpec(input: unknown): FunctionSpec {
  const result = functionSpecSchema.safeParse(input ?? {});
  if (!result.success) throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [formatZodIssues(result.error)]);
  return result.data;
}

export function formatZodIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') {
        const where = path ? `${path}: ` : '';
        return `${where}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export function assertFunctionName(name: string): void {
  if (!FUNCTION_NAME_RE.test(name)) throw new NimbusError('ERR_FUNCTION_NAME_INVALID', [name.slice(0, 80)]);
}

/** Splits `handler` into its file and export: `index.handler` → {file: 'index', exportName: 'handler'}. */
export function parseHandler(handler: string | undefined): {
  file: string | undefined;
  exportName: string | undefined;
} {
  if (!handler) return { file: undefined, exportName: undefined };
  const m = /^(.*?)(?:\.(ts|mts|cts|js|mjs|cjs|tsx|jsx))?(?:\.([A-Za-z_$][\w$]*))?$/.exec(handler);
  if (!m) return { file: handler, exportName: undefined };
  const [, stem, ext, exportName] = m;
  if (ext) return { file: `${stem}.${ext}`, exportName };
  return { file: stem, exportName };
}
