// What the invoke routes share: cutting `/{prefix}/{name}[/path][?query]` and finding the function it names.
import type { IncomingMessage } from 'node:http';
import { FUNCTION_NAME_RE } from '../config/function-spec.js';
import { OPENFAAS_NAMESPACE } from '../config/openfaas.js';
import type { Dispatcher, FunctionEntry } from '../dispatch/dispatcher.js';
import { NimbusError } from '../errors.js';

/** Request headers that describe the hop, not the request; they are not passed to the function. */
export const HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
]);

export interface FunctionRoute {
  name: string;
  /** What the function sees as its path: `/` or `/a/b`, with the query: `/a?x=1`. */
  target: string;
}

/** Cuts the function name and the target out of the URL, after the route prefix. */
export function functionRoute(url: string, prefixLength: number): FunctionRoute {
  let nameEnd = prefixLength;
  while (
    nameEnd < url.length &&
    url.charCodeAt(nameEnd) !== 47 /* / */ &&
    url.charCodeAt(nameEnd) !== 63 /* ? */
  ) {
    nameEnd++;
  }
  const rest = url.slice(nameEnd);
  return {
    name: url.slice(prefixLength, nameEnd),
    target: rest.length === 0 || rest.charCodeAt(0) === 63 ? `/${rest}` : rest,
  };
}

/** The live function a route names, or the coded error for a bad name, a missing function or a private one. */
export function resolveFunction(
  dispatcher: Dispatcher,
  name: string,
  req: IncomingMessage,
  isAdmin: (req: IncomingMessage) => boolean,
): FunctionEntry | NimbusError {
  if (!FUNCTION_NAME_RE.test(name)) {
    // OpenFaaS names the namespace in a suffix, `hello.openfaas-fn`: Nimbus serves that one only.
    const dot = name.indexOf('.');
    if (dot > 0 && FUNCTION_NAME_RE.test(name.slice(0, dot))) {
      const namespace = name.slice(dot + 1);
      if (namespace !== OPENFAAS_NAMESPACE)
        return new NimbusError('ERR_NAMESPACE_NOT_FOUND', [namespace.slice(0, 80)]);
      return resolveFunction(dispatcher, name.slice(0, dot), req, isAdmin);
    }
    return new NimbusError('ERR_FUNCTION_NAME_INVALID', [name.length > 80 ? `${name.slice(0, 80)}…` : name]);
  }
  const entry = dispatcher.get(name);
  if (!entry) return new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
  if (entry.fn.spec.private && !isAdmin(req)) return new NimbusError('ERR_FUNCTION_PRIVATE', [name]);
  return entry;
}
