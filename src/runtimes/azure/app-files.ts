// What an Azure Functions Node.js app is made of, read the same way at build time and in the instance:
// host.json (route prefix, log level) and the files package.json `main` names (a path or a glob such as
// `src/functions/*.js`, as the Azure worker reads it).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
// zod/mini: this file is part of the instance's Azure style, which loads on every cold start of an app.
import * as z from 'zod/mini';

/** host.json's default `extensions.http.routePrefix`. */
export const DEFAULT_ROUTE_PREFIX = 'api';

/** An app that cannot be read as one: what is wrong, said so the user can fix it. */
export class AzureAppError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AzureAppError';
  }
}

const LOG_LEVELS = ['trace', 'debug', 'information', 'warning', 'error', 'critical', 'none'] as const;
export type AzureLogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_NAMES = ['Trace', 'Debug', 'Information', 'Warning', 'Error', 'Critical', 'None'];

const hostJsonSchema = z.looseObject({
  version: z.literal('2.0', 'must be "2.0" (the Functions v1 host.json format is not supported)'),
  functionTimeout: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^(-1|(\d+\.)?\d{1,2}:\d{2}:\d{2}(\.\d+)?)$/,
          'must be a TimeSpan such as "00:05:00" (or "-1")',
        ),
      ),
  ),
  extensions: z.optional(
    z.looseObject({
      http: z.optional(z.looseObject({ routePrefix: z.optional(z.string().check(z.maxLength(200))) })),
    }),
  ),
  logging: z.optional(
    z.looseObject({
      logLevel: z.optional(
        z.record(
          z.string(),
          z.string().check(
            z.refine((l) => LOG_LEVELS.includes(l.toLowerCase() as AzureLogLevel), {
              message: `must be one of ${LEVEL_NAMES.join(', ')}`,
            }),
          ),
        ),
      ),
    }),
  ),
});

export interface HostSettings {
  routePrefix: string;
  /** The lowest level of the functions' own logs that is kept (`logging.logLevel`: `Function`, else `default`). */
  logLevel: AzureLogLevel;
  /** `functionTimeout` in ms; undefined when unset or unbounded (`-1`). */
  timeoutMs: number | undefined;
}

/** Reads host.json: its route prefix (slashes trimmed; default `api`) and the functions' log level. */
export function readHostJson(dir: string): HostSettings {
  const path = join(dir, 'host.json');
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AzureAppError(`host.json is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = hostJsonSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the file';
    throw new AzureAppError(`host.json ${where}: ${issue.message}`);
  }
  const host = parsed.data;
  const prefix = host.extensions?.http?.routePrefix ?? DEFAULT_ROUTE_PREFIX;
  const levels = Object.fromEntries(
    Object.entries(host.logging?.logLevel ?? {}).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]),
  ) as Record<string, AzureLogLevel>;
  return {
    routePrefix: prefix.replace(/^\/+|\/+$/g, ''),
    logLevel: levels.function ?? levels.default ?? 'information',
    timeoutMs: timeSpanMs(host.functionTimeout),
  };
}

/** A TimeSpan (`[d.]hh:mm:ss[.fff]`) in ms. */
function timeSpanMs(span: string | undefined): number | undefined {
  const m = span === undefined ? null : /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(span);
  if (!m) return undefined;
  const seconds = Number(m[1] ?? 0) * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  return Math.round(seconds * 1000);
}

/** package.json's `main` (default `index.js`). */
export function readMain(dir: string): string {
  let pkg: unknown;
  try {
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  } catch (err) {
    throw new AzureAppError(`package.json is not valid JSON: ${(err as Error).message}`);
  }
  const main = (pkg as { main?: unknown } | null)?.main;
  if (main === undefined) return 'index.js';
  if (typeof main !== 'string' || main.trim() === '')
    throw new AzureAppError('package.json "main" must name the function files (a path or a glob)');
  return main.trim();
}

const MAX_FILES_WALKED = 20_000;
const SKIPPED_DIRS = new Set(['node_modules', '.git']);

/**
 * The files `main` names, relative to `dir` and sorted: a path, or a glob of `*`, `**`, `?` and `{a,b}`.
 * Throws when the pattern leaves the folder or names no file (a TypeScript app not built yet, say).
 */
export function functionFiles(dir: string, main: string): string[] {
  const patterns = expandBraces(main.replace(/^\.\//, '')).map((p) => p.replace(/^\.\//, ''));
  for (const p of patterns) {
    if (p.startsWith('/') || p.split('/').includes('..'))
      throw new AzureAppError(`package.json "main" (${main}) must stay inside the app folder`);
  }
  const literal = patterns.filter((p) => !/[*?]/.test(p));
  const globs = patterns.filter((p) => /[*?]/.test(p)).map(globRegex);
  const found = new Set<string>();
  for (const p of literal) if (isFile(join(dir, p))) found.add(p);
  if (globs.length > 0) {
    for (const file of walk(dir)) if (globs.some((re) => re.test(file))) found.add(file);
  }
  const typescript = [...found].filter((f) => /\.(ts|mts|cts|tsx)$/.test(f));
  if (typescript.length > 0)
    throw new AzureAppError(
      `package.json "main" (${main}) names TypeScript sources (${typescript.slice(0, 3).join(', ')}); build the app (npm run build) and point "main" at the compiled .js files`,
    );
  if (found.size === 0)
    throw new AzureAppError(
      `package.json "main" (${main}) matches no file; build the app first (a TypeScript app: npm run build)`,
    );
  return [...found].sort();
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Every file below `dir` (relative, `/`-separated), not entering node_modules or dot folders. */
function walk(dir: string): string[] {
  const out: string[] = [];
  const pending = [''];
  while (pending.length > 0) {
    const rel = pending.pop()!;
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith('.')) pending.push(path);
      } else if (entry.isFile()) {
        out.push(path);
        if (out.length > MAX_FILES_WALKED)
          throw new AzureAppError(
            `the app folder holds more than ${MAX_FILES_WALKED} files outside node_modules`,
          );
      }
    }
  }
  return out;
}

/** `a/{b,c}/*.js` → [`a/b/*.js`, `a/c/*.js`] (nested braces too). */
export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf('{');
  if (open === -1) return [pattern];
  let depth = 0;
  const commas: number[] = [];
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      const options: string[] = [];
      let start = open + 1;
      for (const comma of commas) {
        options.push(pattern.slice(start, comma));
        start = comma + 1;
      }
      options.push(pattern.slice(start, i));
      const head = pattern.slice(0, open);
      const tail = pattern.slice(i + 1);
      return options.flatMap((o) => expandBraces(head + o + tail));
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  throw new AzureAppError(`package.json "main" (${pattern}) has a "{" without a "}"`);
}

function globRegex(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        source += '(?:[^/.][^/]*/)*';
      } else source += '.*';
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Whether `dir` looks like an Azure Functions app of the Node.js v4 model (or another Azure model). */
export function azureAppKind(dir: string): 'node' | 'python' | 'other' | undefined {
  if (!existsSync(join(dir, 'host.json'))) return undefined;
  if (existsSync(join(dir, 'package.json'))) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
      const deps = { ...(pkg.devDependencies as object), ...(pkg.dependencies as object) };
      if ('@azure/functions' in deps) return 'node';
    } catch {
      return 'node';
    }
  }
  if (existsSync(join(dir, 'function_app.py'))) return 'python';
  return 'other';
}
