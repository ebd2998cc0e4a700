// What the invoke routes share: cutting `/{prefix}/{name}[/path][?query]` and finding the function it names.
import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';
import { type Authenticator, mayInvoke } from '../auth/authenticate.js';
import { FUNCTION_NAME_RE } from '../config/function-spec.js';
import { DEFAULT_NAMESPACE, functionId, namespaceParam } from '../config/namespace.js';
import type { Dispatcher, FunctionEntry } from '../dispatch/dispatcher.js';
import type { Namespaces } from '../dispatch/namespaces.js';
import type { VersionRouter } from '../dispatch/versions.js';
import { NimbusError } from '../errors.js';
import { azureAccess } from '../runtimes/azure/azure-auth.js';

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

export interface ResolvedFunction {
  entry: FunctionEntry;
  /** The Authorization header carries a Nimbus credential: the gateway consumed it, the function never sees it. */
  consumedAuthorization: boolean;
  /** The target to send on, when it changed (an Azure function key in `?code=` was consumed). */
  target?: string;
}

/** What resolving a function on an invoke route needs. */
export interface FunctionRouteDeps {
  dispatcher: Dispatcher;
  auth: Authenticator;
  namespaces: Namespaces;
  /** Calls to `name@alias` and `name@version`. */
  versions: VersionRouter;
}

/**
 * The live function a route names (`name`, or `name.namespace` as OpenFaaS routes it, `openfaas-fn` being the
 * default namespace; `@alias` or `@version` after it for one of its versions), or the coded error for a bad name or Host header, a missing function, a private one
 * called without a key that may invoke it, or a namespace at its rate quota. Given the `target`, an Azure
 * Functions app's routes ask for their keys (runtimes/azure/azure-auth.ts).
 */
export function resolveFunction(
  deps: FunctionRouteDeps,
  routed: string,
  req: IncomingMessage,
  target?: string,
): ResolvedFunction | NimbusError {
  let name = routed;
  let namespace = DEFAULT_NAMESPACE;
  let qualifier: string | undefined;
  if (!FUNCTION_NAME_RE.test(routed)) {
    // `name[.namespace][@alias|@version]`: the slow path, for calls that are not to a plain name.
    const at = routed.indexOf('@');
    const base = at === -1 ? routed : routed.slice(0, at);
    if (at !== -1) qualifier = decodeQualifier(routed.slice(at + 1));
    const dot = base.indexOf('.');
    name = dot === -1 ? base : base.slice(0, dot);
    if (!FUNCTION_NAME_RE.test(name) || qualifier === '')
      return new NimbusError('ERR_FUNCTION_NAME_INVALID', [
        routed.length > 80 ? `${routed.slice(0, 80)}…` : routed,
      ]);
    if (dot !== -1) {
      namespace = namespaceParam(base.slice(dot + 1));
      if (!deps.namespaces.get(namespace))
        return new NimbusError('ERR_NAMESPACE_NOT_FOUND', [namespace.slice(0, 80)]);
    }
  }
  const host = req.headers.host;
  if (host !== undefined && !isHostHeader(host))
    return new NimbusError('ERR_REQUEST_INVALID', [
      'the Host header must be a host name or address, with an optional port',
    ]);
  const id = functionId(namespace, name);
  const entry = qualifier === undefined ? deps.dispatcher.get(id) : deps.versions.resolve(id, qualifier);
  if (entry instanceof NimbusError) return entry;
  if (!entry) return new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]);
  const credential = req.headers.authorization === undefined ? undefined : deps.auth.identify(req);
  if (entry.fn.spec.private) {
    const principal = credential?.principal;
    if (!principal) return new NimbusError('ERR_FUNCTION_PRIVATE', [name]);
    if (!mayInvoke(principal, name, namespace))
      return new NimbusError('ERR_FUNCTION_FORBIDDEN', [principal.id, name]);
  }
  const consumedAuthorization = credential?.nimbus ?? false;
  let azureTarget: string | undefined;
  if (entry.fn.spec.handlerStyle === 'azure' && target !== undefined) {
    const access = azureAccess(entry.fn, req, target, deps.auth, credential, { name, namespace });
    if (access instanceof NimbusError) return access;
    azureTarget = access.target;
  }
  const limited = deps.namespaces.admitCall(namespace);
  if (limited) return limited;
  return azureTarget === undefined
    ? { entry, consumedAuthorization }
    : { entry, consumedAuthorization, target: azureTarget };
}

/** An alias or version after `@`, percent-decoded; '' when it cannot be decoded. */
function decodeQualifier(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return '';
  }
}

/**
 * `host [":" port]` where host is a bracketed IPv6 address or a name / IPv4 address of letters, digits and
 * `-._~`: nothing that could end the authority or that WHATWG's URL parser refuses (`/ ? # @ \\ %`, space),
 * since the Host header becomes the URL a function sees.
 */
export function isHostHeader(host: string): boolean {
  const m = HOST_RE.exec(host);
  return m !== null && (m[1] === undefined || isIPv6(m[1]));
}

const HOST_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|[A-Za-z0-9\-._~]+)(?::\d{0,5})?$/;
