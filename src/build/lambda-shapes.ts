// What the AWS deploy files (serverless.yml, SAM's template.yaml) say the way Lambda says it, as Nimbus spec
// keys: a Lambda `Runtime` (nodejs22.x, python3.12, provided.al2023), a handler, a schedule expression,
// a function name.
import type { FunctionSpecInput } from '../config/function-spec.js';
import { FUNCTION_NAME_RE } from '../config/function-spec.js';

/** The spec keys of a Lambda runtime, or why Nimbus cannot build it. */
export function lambdaRuntimeSpec(
  runtime: string,
  handler: string | undefined,
): { spec: FunctionSpecInput } | { unsupported: string } {
  const node = /^nodejs(\d+)\.x$/.exec(runtime);
  if (node) {
    return {
      spec: {
        runtime: 'node',
        handlerStyle: 'lambda',
        nodeVersion: Number(node[1]),
        ...(handler ? { handler } : {}),
      },
    };
  }
  if (/^python3(\.\d+)?$/.test(runtime)) {
    // Serverless writes a handler in a subfolder as a path: `src/handler.main` is the module src.handler.
    const python = handler?.replace(/\.py(?=\.[^.]+$)/, '').replaceAll('/', '.');
    return { spec: { runtime: 'python', handlerStyle: 'lambda', ...(python ? { handler: python } : {}) } };
  }
  if (/^provided(\.al2|\.al2023)?$/.test(runtime))
    return { spec: { runtime: 'lambda', ...(handler ? { handler } : {}) } };
  return {
    unsupported: `runtime ${runtime} cannot be built by Nimbus (it builds nodejs*, python3.* and provided.*)`,
  };
}

/**
 * `rate(5 minutes)` or `cron(0 12 * * ? *)` (EventBridge's forms) as a cron expression Nimbus runs, or
 * undefined when it has no equivalent. EventBridge numbers weekdays 1-7 from Sunday; cron 0-6.
 */
export function scheduleToCron(expression: string): string | undefined {
  const rate = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression.trim());
  if (rate) {
    const n = Number(rate[1]);
    if (n < 1) return undefined;
    const unit = rate[2]!.replace(/s$/, '');
    if (unit === 'minute') return n === 1 ? '* * * * *' : n < 60 ? `*/${n} * * * *` : undefined;
    if (unit === 'hour') return n === 1 ? '0 * * * *' : n < 24 ? `0 */${n} * * *` : undefined;
    return n === 1 ? '0 0 * * *' : n < 32 ? `0 0 */${n} * *` : undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(expression.trim());
  if (!cron) return undefined;
  const fields = cron[1]!.trim().split(/\s+/);
  if (fields.length !== 6) return undefined;
  const [minute, hour, day, month, weekday, year] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (year !== '*') return undefined;
  const dow = weekday.replace(/(^|[,-])(\d)/g, (_, sep: string, d: string) => `${sep}${(Number(d) + 6) % 7}`);
  return [minute, hour, day, month, dow].map((f) => (f === '?' ? '*' : f)).join(' ');
}

/** A Nimbus function name (a DNS label) from a key such as `helloWorld`, `Hello_World` or `HelloWorldFunction`. */
export function functionNameFrom(key: string): string | undefined {
  const name = key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/[_.\s]+/g, '-')
    .toLowerCase()
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return FUNCTION_NAME_RE.test(name) ? name : undefined;
}

/** Values of an `environment` map as strings; what is not a string, number or boolean is left out. */
export function environmentStrings(
  value: unknown,
  where: string,
  warn: (message: string) => void,
): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    warn(`${where} is not a mapping; ignored`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else warn(`${where}.${k} is not a plain value (${JSON.stringify(v)?.slice(0, 60)}); ignored`);
  }
  return out;
}
