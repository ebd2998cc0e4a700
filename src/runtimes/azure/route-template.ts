// Azure Functions HTTP route templates (ASP.NET Core's syntax): `hi/{name}`, `items/{id:int?}`,
// `files/{*path}`, `{file}.{ext}`, with constraints. Parsed once (a template that does not parse is an error
// at deploy), matched against a request path; literal segments win over parameters, as ASP.NET orders them.

/** A parsed template: what a path must look like and which values it gives. */
export interface RouteTemplate {
  readonly template: string;
  readonly segments: readonly Segment[];
  /** Per segment: 1 literal, 2 complex, 3 constrained parameter, 4 parameter, 5 catch-all (lower wins). */
  readonly precedence: readonly number[];
  /**
   * Matching may backtrack on a hostile path (a `regex()` constraint, or a segment of several parameters):
   * whoever matches it on a thread others share bounds the time (src/runtimes/azure/azure-auth.ts).
   */
  readonly backtracks: boolean;
}

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; param: Param }
  /** Literals and parameters in one segment; `regexes` are tried in turn (the last without an optional part). */
  | { kind: 'complex'; parts: readonly (string | Param)[]; regexes: readonly RegExp[] };

interface Param {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue: string | undefined;
  constraints: readonly Constraint[];
}

type Constraint = (value: string) => boolean;

/** A template that does not parse: `message` says what is wrong with it. */
export class RouteTemplateError extends Error {
  constructor(
    readonly template: string,
    message: string,
  ) {
    super(message);
    this.name = 'RouteTemplateError';
  }
}

const PARAM_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const MAX_TEMPLATE_LENGTH = 1000;
const INT32 = [-2_147_483_648n, 2_147_483_647n] as const;
const INT64 = [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n] as const;
const GUID_RE = /^[{(]?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}[})]?$/i;
const INTEGER_RE = /^[+-]?\d+$/;
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parses a template; throws RouteTemplateError naming what is wrong. */
export function parseRouteTemplate(template: string): RouteTemplate {
  if (template.length > MAX_TEMPLATE_LENGTH)
    throw new RouteTemplateError(template, `it is longer than ${MAX_TEMPLATE_LENGTH} characters`);
  // A leading `/` (or `~/`) and a trailing `/` say nothing: ASP.NET trims them too.
  const body = template.replace(/^~?\//, '').replace(/\/$/, '');
  const rawSegments = body === '' ? [] : splitSegments(body, template);
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (const [i, raw] of rawSegments.entries()) {
    if (raw === '') throw new RouteTemplateError(template, 'it has an empty segment ("//")');
    const parts = parseSegment(raw, template);
    for (const part of parts) {
      if (typeof part === 'string') continue;
      const key = part.name.toLowerCase();
      if (names.has(key))
        throw new RouteTemplateError(template, `parameter "${part.name}" appears more than once`);
      names.add(key);
      if (part.catchAll && (i !== rawSegments.length - 1 || parts.length > 1))
        throw new RouteTemplateError(
          template,
          `catch-all parameter "${part.name}" must be the whole last segment`,
        );
    }
    segments.push(toSegment(parts, template));
  }
  checkOptionalOrder(segments, template);
  const backtracks = segments.some((s) => s.kind === 'complex') || /:regex\(/i.test(body);
  return { template, segments, precedence: segments.map(rank), backtracks };
}

/** Splits on `/` outside braces. */
function splitSegments(body: string, template: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '{') {
      if (body[i + 1] === '{') {
        i++;
        continue;
      }
      depth++;
    } else if (c === '}') {
      // `}}` is a literal brace, inside a parameter (a regex constraint) as outside.
      if (body[i + 1] === '}') {
        i++;
        continue;
      }
      depth--;
      if (depth < 0) throw new RouteTemplateError(template, 'it has a "}" without a "{"');
    } else if (c === '/' && depth === 0) {
      out.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new RouteTemplateError(template, 'it has a "{" without a "}"');
  out.push(body.slice(start));
  return out;
}

/** One segment into literals and parameters (`{{` and `}}` are literal braces). */
function parseSegment(raw: string, template: string): (string | Param)[] {
  const parts: (string | Param)[] = [];
  let literal = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '{' && raw[i + 1] === '{') {
      literal += '{';
      i += 2;
    } else if (c === '}' && raw[i + 1] === '}') {
      literal += '}';
      i += 2;
    } else if (c === '}') {
      throw new RouteTemplateError(template, 'it has a "}" without a "{"');
    } else if (c === '{') {
      // The parameter runs to the first single `}` (a doubled one belongs to a regex constraint).
      let j = i + 1;
      let text = '';
      for (; j < raw.length; j++) {
        if (raw[j] === '}' && raw[j + 1] === '}') {
          text += '}';
          j++;
        } else if (raw[j] === '{' && raw[j + 1] === '{') {
          text += '{';
          j++;
        } else if (raw[j] === '}') break;
        else if (raw[j] === '{') throw new RouteTemplateError(template, 'a parameter cannot hold a "{"');
        else text += raw[j];
      }
      if (j >= raw.length) throw new RouteTemplateError(template, 'it has a "{" without a "}"');
      if (literal) parts.push(literal);
      literal = '';
      const previous = parts[parts.length - 1];
      if (previous !== undefined && typeof previous !== 'string')
        throw new RouteTemplateError(
          template,
          'two parameters in one segment need a literal between them ("{a}.{b}", not "{a}{b}")',
        );
      parts.push(parseParam(text, template));
      i = j + 1;
    } else {
      if (c === '?' || c === '*')
        throw new RouteTemplateError(template, `"${c}" may only appear inside a parameter`);
      literal += c;
      i++;
    }
  }
  if (literal) parts.push(literal);
  return parts;
}

/** `name`, `*name`, `**name`, then `:constraint(args)`..., then `?` or `=default`. */
function parseParam(text: string, template: string): Param {
  let rest = text;
  let catchAll = false;
  if (rest.startsWith('**')) {
    catchAll = true;
    rest = rest.slice(2);
  } else if (rest.startsWith('*')) {
    catchAll = true;
    rest = rest.slice(1);
  }
  let defaultValue: string | undefined;
  let optional = false;
  const pieces = splitConstraints(rest);
  const last = pieces.length - 1;
  // `?` and `=default` end the last piece (the name, or the last constraint).
  const eq = pieces[last]!.search(/=(?![^(]*\))/);
  if (eq !== -1) {
    defaultValue = pieces[last]!.slice(eq + 1);
    pieces[last] = pieces[last]!.slice(0, eq);
    if (defaultValue.endsWith('?') || pieces[last]!.endsWith('?'))
      throw new RouteTemplateError(template, 'a parameter cannot be optional and have a default value');
  } else if (pieces[last]!.endsWith('?')) {
    optional = true;
    pieces[last] = pieces[last]!.slice(0, -1);
  }
  const name = pieces[0]!;
  if (!PARAM_NAME_RE.test(name))
    throw new RouteTemplateError(
      template,
      name === ''
        ? 'a parameter needs a name ("{name}")'
        : `parameter name "${name}" may hold only letters, digits, "_", "." and "-"`,
    );
  if (catchAll && optional)
    throw new RouteTemplateError(
      template,
      `catch-all parameter "${name}" is optional already (drop the "?")`,
    );
  const constraints = pieces.slice(1).map((c) => parseConstraint(c, name, template));
  return { name, optional, catchAll, defaultValue, constraints };
}

/** Splits `name:c1:c2(a:b)` on the colons outside parentheses. */
function splitConstraints(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === ':' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

function parseConstraint(text: string, param: string, template: string): Constraint {
  const m = /^([A-Za-z]+)(?:\((.*)\))?$/s.exec(text);
  const fail = (why: string): never => {
    throw new RouteTemplateError(template, `constraint "${text}" of parameter "${param}": ${why}`);
  };
  if (!m) return fail('write it as name or name(arguments)');
  const kind = m[1]!.toLowerCase();
  const arg = m[2];
  const numbers = (count: number): bigint[] => {
    const values = (arg ?? '').split(',').map((s) => s.trim());
    if (arg === undefined || values.length !== count || !values.every((v) => INTEGER_RE.test(v)))
      fail(`it takes ${count === 1 ? 'one integer' : `${count} integers`}`);
    return values.map((v) => BigInt(v));
  };
  const noArgs = (check: Constraint): Constraint =>
    arg === undefined ? check : fail('it takes no arguments');
  switch (kind) {
    case 'int':
      return noArgs((v) => inRange(v, INT32[0], INT32[1]));
    case 'long':
      return noArgs((v) => inRange(v, INT64[0], INT64[1]));
    case 'bool':
      return noArgs((v) => /^(true|false)$/i.test(v));
    case 'datetime':
      return noArgs((v) => !Number.isNaN(Date.parse(v)));
    case 'decimal':
    case 'double':
    case 'float':
      return noArgs((v) => NUMBER_RE.test(v) && Number.isFinite(Number(v)));
    case 'guid':
      return noArgs((v) => GUID_RE.test(v));
    case 'alpha':
      return noArgs((v) => /^[a-z]+$/i.test(v));
    case 'required':
      return noArgs((v) => v !== '');
    case 'file':
      return noArgs((v) => /\.[^./]+$/.test(v));
    case 'nonfile':
      return noArgs((v) => !/\.[^./]+$/.test(v));
    case 'minlength': {
      const [n] = numbers(1) as [bigint];
      return (v) => BigInt(v.length) >= n;
    }
    case 'maxlength': {
      const [n] = numbers(1) as [bigint];
      return (v) => BigInt(v.length) <= n;
    }
    case 'length': {
      const values = (arg ?? '').split(',');
      if (values.length === 1) {
        const [n] = numbers(1) as [bigint];
        return (v) => BigInt(v.length) === n;
      }
      const [lo, hi] = numbers(2) as [bigint, bigint];
      return (v) => BigInt(v.length) >= lo && BigInt(v.length) <= hi;
    }
    case 'min': {
      const [n] = numbers(1) as [bigint];
      return (v) => inRange(v, n, INT64[1]);
    }
    case 'max': {
      const [n] = numbers(1) as [bigint];
      return (v) => inRange(v, INT64[0], n);
    }
    case 'range': {
      const [lo, hi] = numbers(2) as [bigint, bigint];
      return (v) => inRange(v, lo, hi);
    }
    case 'regex': {
      if (arg === undefined || arg === '') return fail('it takes a regular expression');
      let re: RegExp;
      try {
        // ASP.NET matches regex constraints ignoring case, and does not anchor them.
        re = new RegExp(arg, 'i');
      } catch (err) {
        return fail(`the regular expression does not parse: ${(err as Error).message}`);
      }
      return (v) => re.test(v);
    }
    default:
      return fail(
        'unknown constraint (int, long, bool, datetime, decimal, double, float, guid, alpha, required, file, nonfile, minlength, maxlength, length, min, max, range, regex)',
      );
  }
}

function inRange(value: string, lo: bigint, hi: bigint): boolean {
  if (!INTEGER_RE.test(value) || value.length > 24) return false;
  const n = BigInt(value);
  return n >= lo && n <= hi;
}

function toSegment(parts: (string | Param)[], template: string): Segment {
  if (parts.length === 1 && typeof parts[0] === 'string') return { kind: 'literal', text: parts[0] };
  if (parts.length === 1) return { kind: 'param', param: parts[0] as Param };
  for (const [i, part] of parts.entries()) {
    if (typeof part === 'string') continue;
    // ASP.NET allows an optional parameter in a complex segment only last, after a period.
    if (part.optional && (i !== parts.length - 1 || !String(parts[i - 1]).endsWith('.')))
      throw new RouteTemplateError(
        template,
        `optional parameter "${part.name}" in a segment with other text must come last, after a "." ("{file}.{ext?}")`,
      );
  }
  // ASP.NET matches a complex segment right to left, each literal at its last occurrence: greedy groups.
  const source = (of: readonly (string | Param)[]): RegExp =>
    new RegExp(`^${of.map((p) => (typeof p === 'string' ? escapeRegex(p) : '(.+)')).join('')}$`, 'is');
  const last = parts[parts.length - 1]!;
  const regexes =
    typeof last !== 'string' && last.optional ? [source(parts), source(parts.slice(0, -2))] : [source(parts)];
  return { kind: 'complex', parts, regexes };
}

/** Once a segment may be left out, every one after it must be optional too. */
function checkOptionalOrder(segments: readonly Segment[], template: string): void {
  let optionalSeen: string | undefined;
  for (const segment of segments) {
    const param = segment.kind === 'param' ? segment.param : undefined;
    const mayBeMissing =
      param !== undefined && (param.optional || param.catchAll || param.defaultValue !== undefined);
    if (optionalSeen !== undefined && !mayBeMissing)
      throw new RouteTemplateError(
        template,
        `optional parameter "${optionalSeen}" must be in the last segment (or followed only by optional ones)`,
      );
    if (mayBeMissing) optionalSeen ??= param.name;
  }
}

function rank(segment: Segment): number {
  if (segment.kind === 'literal') return 1;
  if (segment.kind === 'complex') return 2;
  if (segment.param.catchAll) return 5;
  return segment.param.constraints.length > 0 ? 3 : 4;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Matches a path (below the route prefix, without a leading `/`, still percent-encoded) against a
 * template; the parameters' decoded values, or undefined when it does not match.
 */
export function matchRoute(route: RouteTemplate, path: string): Record<string, string> | undefined {
  const raw = path === '' ? [] : path.split('/');
  // A trailing slash is ignored, as ASP.NET does.
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const params: Record<string, string> = {};
  const { segments } = route;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.kind === 'param' && segment.param.catchAll) {
      const rest = raw.slice(i);
      if (rest.some((s) => s === '')) return undefined;
      const value = decode(rest.join('/'));
      if (value === undefined) return undefined;
      const chosen = value === '' ? segment.param.defaultValue : value;
      if (chosen !== undefined) {
        if (!segment.param.constraints.every((c) => c(chosen))) return undefined;
        params[segment.param.name] = chosen;
      }
      return params;
    }
    if (i >= raw.length) {
      if (segment.kind !== 'param') return undefined;
      const { param } = segment;
      if (param.defaultValue !== undefined) params[param.name] = param.defaultValue;
      else if (!param.optional) return undefined;
      continue;
    }
    const value = decode(raw[i]!);
    if (value === undefined || value === '') return undefined;
    if (segment.kind === 'literal') {
      if (value.toLowerCase() !== segment.text.toLowerCase()) return undefined;
    } else if (segment.kind === 'param') {
      if (!segment.param.constraints.every((c) => c(value))) return undefined;
      params[segment.param.name] = value;
    } else {
      let m: RegExpExecArray | null = null;
      for (const regex of segment.regexes) {
        m = regex.exec(value);
        if (m) break;
      }
      if (!m) return undefined;
      let group = 1;
      for (const part of segment.parts) {
        if (typeof part === 'string') continue;
        const v = m[group++];
        if (v === undefined) continue;
        if (!part.constraints.every((c) => c(v))) return undefined;
        params[part.name] = v;
      }
    }
  }
  return raw.length > segments.length ? undefined : params;
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Orders routes as ASP.NET does when several match: literal segments first, catch-alls last; stable. */
export function comparePrecedence(a: RouteTemplate, b: RouteTemplate): number {
  const n = Math.min(a.precedence.length, b.precedence.length);
  for (let i = 0; i < n; i++) {
    const d = a.precedence[i]! - b.precedence[i]!;
    if (d !== 0) return d;
  }
  return b.precedence.length - a.precedence.length;
}

/** The part of a request path below the route prefix (`api`), or undefined when it is not below it. */
export function belowPrefix(path: string, routePrefix: string): string | undefined {
  if (routePrefix === '') return path.slice(1);
  const n = routePrefix.length + 1;
  if (path.length < n || path.slice(1, n).toLowerCase() !== routePrefix.toLowerCase()) return undefined;
  if (path.length === n) return '';
  return path.charCodeAt(n) === 47 /* / */ ? path.slice(n + 1) : undefined;
}
