// Which handler style a Node function's module is written in, when the spec does not say: each style's
// pick() recognises its own exports, tried in order (runner.ts); the rules that tell apart a default-exported
// function by its parameters, and the load error that names the `handler: file.export` to set, are here.
// docs/functions.md states the rules.
import type { HandlerStyle } from './handler-style.js';
import { unwrapDefault } from './handler-style.js';

// biome-ignore lint/suspicious/noExplicitAny: handlers are user code of any shape
export type AnyHandler = (...args: any[]) => unknown;

/** First parameter names that say a default-exported function takes a Request (`(req, env, ctx)` too). */
const REQUEST_PARAMS = new Set(['request', 'req', '_request', '_req']);
/** First parameter names that say it takes an event: OpenFaaS's `module.exports = (event, context)`. */
const EVENT_PARAMS = new Set(['event', 'evt', 'ev', '_event']);

const SHAPES =
  'export default { fetch(request) }, export default async (request) => Response, export const handler = async (event, context) => result, export default (event, context, callback), or exports.main = (params) => result (OpenWhisk)';

/** The style of `mod`: the one the spec names (`named`), else the first whose pick() takes it. */
export function pickStyle(
  styles: readonly HandlerStyle[],
  mod: Record<string, unknown>,
  exportName: string | undefined,
  named: string | undefined,
): { style: HandlerStyle; handler: unknown } {
  if (named) {
    const style = styles.find((s) => s.name === named);
    if (!style)
      throw new Error(
        `unknown handler style "${named}"; this runner knows ${styles.map((s) => s.name).join(', ')}`,
      );
    return { style, handler: style.pick(mod, exportName, true) };
  }
  for (const style of styles) {
    const handler = style.pick(mod, exportName, false);
    if (handler !== undefined) return { style, handler };
  }
  throw noHandlerError(mod);
}

/**
 * How a default-exported function is called when the spec does not say. Its parameters decide:
 * `(request…)`/`(req…)` is a fetch handler whatever their number; three or more is Lambda's
 * `(event, context, callback)`; `(event…)` is OpenFaaS's `module.exports = async (event, context)`
 * (Lambda handlers are named exports); anything else is a fetch handler, Nimbus's own default style.
 */
export function defaultFunctionStyle(fn: AnyHandler): 'fetch' | 'lambda' | 'openfaas' {
  const [first] = parameterNames(fn);
  if (first !== undefined && REQUEST_PARAMS.has(first)) return 'fetch';
  if (fn.length >= 3) return 'lambda';
  if (first !== undefined && EVENT_PARAMS.has(first)) return 'openfaas';
  return 'fetch';
}

/** The module's default export as a function, when it is one written in `style` (see defaultFunctionStyle). */
export function defaultFunctionOf(
  mod: Record<string, unknown>,
  style: 'fetch' | 'lambda' | 'openfaas',
): AnyHandler | undefined {
  const def = unwrapDefault(mod.default);
  return typeof def === 'function' && defaultFunctionStyle(def as AnyHandler) === style
    ? (def as AnyHandler)
    : undefined;
}

/**
 * The names of a function's leading simple parameters, read from its source (`async (a, b) =>`, `function
 * f(a, b = 1)`, `a => …`); stops at the first destructured or rest parameter. Empty for native code.
 */
export function parameterNames(fn: AnyHandler): string[] {
  let source: string;
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    return [];
  }
  const arrow = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  if (arrow) return [arrow[1]!];
  const open = source.indexOf('(');
  if (open === -1) return [];
  const names: string[] = [];
  const list = source.slice(open + 1);
  const re = /\s*(?:\/\*[\s\S]*?\*\/\s*)*([A-Za-z_$][\w$]*)\s*(?:=[^,)]*)?([,)])/y;
  for (let m = re.exec(list); m; m = re.exec(list)) {
    names.push(m[1]!);
    if (m[2] === ')') break;
  }
  return names;
}

/** Express, Connect and Koa apps: `listen()` and `use()`, no `fetch`. */
export function isNodeHttpApp(value: unknown): boolean {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { listen?: unknown }).listen === 'function' &&
    typeof (value as { use?: unknown }).use === 'function' &&
    typeof (value as { fetch?: unknown }).fetch !== 'function'
  );
}

/** The load error of a Node http app given as a handler. */
export function nodeHttpAppError(): Error {
  return new Error(
    'the default export is a Node http app (Express, Connect, Koa: it has listen() and use()), not a fetch or Lambda handler: run it with `runtime: http` and `command: node server.js` that calls app.listen(process.env.PORT) (docs/runtimes.md, http)',
  );
}

/** Why a module has no handler: with functions exported under other names, which `handler` to set. */
export function noHandlerError(mod: Record<string, unknown>): Error {
  const functions = exportedFunctions(mod, unwrapDefault(mod.default));
  if (functions.length > 0) {
    return new Error(
      `the module exports ${functions.map((n) => `"${n}"`).join(', ')} but no "handler" and no default: set "handler: FILE.${functions[0]}" in nimbus.yml (FILE: the handler's source file without its extension, e.g. index.${functions[0]})`,
    );
  }
  return new Error(`no handler found: ${SHAPES}`);
}

/** The load error of a `handler: file.export` whose export is missing. */
export function noExportError(mod: Record<string, unknown>, exportName: string): Error {
  return new Error(
    `the module has no export "${exportName}" (it exports ${exportList(mod, unwrapDefault(mod.default))}); set "handler" in nimbus.yml to file.export of one of them`,
  );
}

/** Function-valued exports, ESM named ones and the properties of a CommonJS `module.exports` object. */
function exportedFunctions(mod: Record<string, unknown>, def: unknown): string[] {
  const names = Object.keys(mod).filter((k) => k !== 'default' && typeof mod[k] === 'function');
  if (def !== null && typeof def === 'object') {
    for (const [k, v] of Object.entries(def))
      if (typeof v === 'function' && !names.includes(k)) names.push(k);
  }
  return names;
}

function exportList(mod: Record<string, unknown>, def: unknown): string {
  const names = Object.keys(mod).filter((k) => k !== 'default');
  if (def !== null && typeof def === 'object') names.push(...Object.keys(def));
  else if (def !== undefined) names.push('default');
  return names.length === 0 ? 'nothing' : names.map((n) => `"${n}"`).join(', ');
}
