// The `azure` key of a function spec: what `nimbus deploy` found an Azure Functions app to register (its
// HTTP routes with their auth levels, timers and queue triggers) and host.json's route prefix. The gateway
// reads it to ask for keys, cron to run the timers; the instance loads the app's own registrations.
import { z } from 'zod';
import { cronExpressionError } from '../../config/async-spec.js';
import { DEFAULT_ROUTE_PREFIX } from './app-files.js';
import { parseRouteTemplate, RouteTemplateError } from './route-template.js';

export const AUTH_LEVELS = ['anonymous', 'function', 'admin'] as const;
export type AuthLevel = (typeof AUTH_LEVELS)[number];
export const HTTP_METHODS = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'CONNECT',
] as const;

/** What Azure accepts as a function name. */
export const AZURE_FUNCTION_NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;
/** Queue names as a URL segment takes them (Storage queues are a subset: lowercase, digits, `-`). */
export const QUEUE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$/;

const functionName = z.string().regex(AZURE_FUNCTION_NAME_RE, 'must be an Azure function name');

const httpFunctionSchema = z.strictObject({
  /** The function's name in the app (`app.http('hello', …)`). */
  function: functionName,
  /** Route template below the prefix (`hi/{name}`); Azure's default is the function's name. */
  route: z.string().max(1000),
  methods: z.array(z.enum(HTTP_METHODS)).min(1).max(HTTP_METHODS.length),
  authLevel: z.enum(AUTH_LEVELS),
});

const timerSchema = z.strictObject({
  function: functionName,
  /** Six-field NCRONTAB (seconds first), as croner reads it. */
  schedule: z
    .string()
    .max(200)
    .superRefine((expression, ctx) => {
      const error = cronExpressionError(expression);
      if (error) ctx.addIssue({ code: 'custom', message: `invalid schedule "${expression}": ${error}` });
    }),
  /** Run once when the schedule is set up (deploy, Nimbus start), as Azure runs it when the host starts. */
  runOnStartup: z.boolean().default(false),
});

const queueSchema = z.strictObject({
  function: functionName,
  /** Calls to `/async-function/{name}/queues/{queueName}` run this function with the body as its message. */
  queueName: z.string().regex(QUEUE_NAME_RE, 'must be letters, digits, ".", "_" and "-" (at most 260)'),
});

export const azureSpecSchema = z
  .strictObject({
    /** host.json `extensions.http.routePrefix` (without slashes). Default `api`. */
    routePrefix: z
      .string()
      .max(200)
      .refine((p) => !/^\/|\/$|\/\/|[{}?#%\s]/.test(p), {
        message: 'must be a path of segments, without "{", "}", "?", "#", "%", spaces or edge slashes',
      })
      .default(DEFAULT_ROUTE_PREFIX),
    http: z.array(httpFunctionSchema).max(1000).default([]),
    timers: z.array(timerSchema).max(200).default([]),
    queues: z.array(queueSchema).max(200).default([]),
  })
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    const all = [
      ...spec.http.map((f, i) => ['http', i, f.function] as const),
      ...spec.timers.map((f, i) => ['timers', i, f.function] as const),
      ...spec.queues.map((f, i) => ['queues', i, f.function] as const),
    ];
    for (const [key, i, name] of all) {
      if (seen.has(name.toLowerCase()))
        ctx.addIssue({
          code: 'custom',
          path: [key, i, 'function'],
          message: `"${name}" is registered twice`,
        });
      seen.add(name.toLowerCase());
    }
    for (const [i, f] of spec.http.entries()) {
      try {
        parseRouteTemplate(f.route);
      } catch (err) {
        if (!(err instanceof RouteTemplateError)) throw err;
        ctx.addIssue({ code: 'custom', path: ['http', i, 'route'], message: `"${f.route}": ${err.message}` });
      }
    }
    const queues = new Map<string, string>();
    for (const [i, q] of spec.queues.entries()) {
      const other = queues.get(q.queueName.toLowerCase());
      if (other)
        ctx.addIssue({
          code: 'custom',
          path: ['queues', i, 'queueName'],
          message: `queue "${q.queueName}" already triggers "${other}"; one function per queue`,
        });
      queues.set(q.queueName.toLowerCase(), q.function);
    }
  });

export type AzureSpecInput = z.input<typeof azureSpecSchema>;
export type AzureSpec = z.output<typeof azureSpecSchema>;

/** `azure` and `handlerStyle: azure` go together, on runtime node (both are set by `nimbus deploy`). */
export function checkAzureKeys(
  spec: { runtime: string; handlerStyle?: string | undefined; azure?: unknown },
  ctx: z.RefinementCtx,
): void {
  const styled = spec.handlerStyle === 'azure';
  if (styled !== (spec.azure !== undefined))
    ctx.addIssue({
      code: 'custom',
      path: [styled ? 'azure' : 'handlerStyle'],
      message:
        '"azure" and "handlerStyle: azure" go together (nimbus deploy of an Azure Functions app sets both)',
    });
  if (styled && spec.runtime !== 'node')
    ctx.addIssue({
      code: 'custom',
      path: ['runtime'],
      message: 'an Azure Functions app runs on runtime node',
    });
}
