// Web actions: `/api/v1/web/{ns}/{package|default}/{action}[.json|.http|.html|.svg|.text][/path]`, any method,
// for actions annotated `web-export: true`, anonymous unless `require-whisk-auth` says otherwise. The
// request becomes params (web-http.ts), the action runs blocking (an activation is recorded), and its
// result (or, for an application error, its `error`) becomes the response by the extension.
import type { IncomingMessage } from 'node:http';
import type { Authenticator } from '../../auth/authenticate.js';
import type { Principal } from '../../auth/keys.js';
import { DEFAULT_NAMESPACE } from '../../config/namespace.js';
import type { Namespaces } from '../../dispatch/namespaces.js';
import { NimbusError } from '../../errors.js';
import { callerTraceHeaders } from '../../observability/trace-context.js';
import type { BodyBudget } from '../body-budget.js';
import { dropUnreadBody } from '../respond.js';
import type { ControlContext } from '../router.js';
import { actionSettings, annotationValue, PARAMETERS_LIMIT_BYTES } from './action-model.js';
import { asNimbusError, readBody } from './call.js';
import type { Invoker, Resolved } from './invoker.js';
import type { KeyValues } from './ow-store.js';
import { ACTIVATION_ID_HEADER, sendOwError } from './respond.js';
import {
  overridden,
  RESERVED_PARAMS,
  splitExtension,
  type WebAnswer,
  WebInputError,
  type WebRequest,
  WebResultError,
  webAnswer,
  webParams,
} from './web-http.js';

export interface WebDeps {
  auth: Authenticator;
  invoker: Invoker;
  namespaces: Pick<Namespaces, 'get' | 'admitCall'>;
  onInternalError: (error: NimbusError, req: IncomingMessage) => void;
  /** What bodies read whole may take together (anyone may call a web action). */
  bodies?: BodyBudget | undefined;
}

/** What a browser may do across origins, unless the action answers OPTIONS itself (`web-custom-options`). */
const CORS: [string, string][] = [
  ['access-control-allow-origin', '*'],
  ['access-control-allow-methods', 'OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH'],
  [
    'access-control-allow-headers',
    'Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent',
  ],
];

const truthy = (value: unknown): boolean => value === true || value === 'true' || value === 'yes';

function annotationsOf(target: Resolved): { annotations: KeyValues; parameters: KeyValues } {
  if (target.type === 'sequence') return target.entity.doc;
  const s = actionSettings(target.fn);
  return { annotations: s.annotations, parameters: s.parameters };
}

export function webRoute(deps: WebDeps): (ctx: ControlContext) => Promise<void> {
  return async ({ req, res, params }) => {
    const notFound = () =>
      new NimbusError('ERR_OPENWHISK_NOT_FOUND', [
        'web action',
        `${params.ns}/${params.pkg}/${params.action}`.slice(0, 200),
        'actions',
      ]);
    let cors: [string, string][] = [];
    try {
      const nsSegment = params.ns!;
      // No caller to take a namespace from: `_` is the default one.
      const ns = nsSegment === '_' ? DEFAULT_NAMESPACE : nsSegment;
      if (!deps.namespaces.get(ns))
        throw new NimbusError('ERR_OPENWHISK_NAMESPACE_UNKNOWN', [nsSegment.slice(0, 80)]);
      if (params.pkg !== 'default')
        throw new NimbusError('ERR_OPENWHISK_PACKAGES_UNSUPPORTED', [`package ${params.pkg!.slice(0, 80)}`]);
      const { name, ext } = splitExtension(params.action!);
      const target = deps.invoker.resolve(ns, name);
      if (!target) throw notFound();
      const { annotations, parameters } = annotationsOf(target);
      if (!truthy(annotationValue(annotations, 'web-export'))) throw notFound();
      if (!truthy(annotationValue(annotations, 'web-custom-options'))) {
        cors = CORS;
        if (req.method === 'OPTIONS') {
          req.resume();
          res.writeHead(200, Object.fromEntries(cors)).end();
          return;
        }
      }
      const user = checkAuth(deps.auth, req, name, annotationValue(annotations, 'require-whisk-auth'));
      const raw = truthy(annotationValue(annotations, 'raw-http'));
      const body = await readBody(req, PARAMETERS_LIMIT_BYTES, deps.bodies?.hold(res));
      const webReq: WebRequest = {
        method: req.method!,
        headers: requestHeaders(req, deps.auth),
        path: params['*'] ? `/${params['*']}` : '',
        query: rawQuery(req.url!),
        body,
      };
      if (!raw) {
        const locked = truthy(annotationValue(annotations, 'final')) ? parameters.map((kv) => kv.key) : [];
        const hits = overridden(webReq, [...RESERVED_PARAMS, ...locked]);
        if (hits.length > 0)
          throw new NimbusError('ERR_OPENWHISK_WEB_PARAMS', [hits.join(', ').slice(0, 200)]);
      }
      let input: Record<string, unknown>;
      try {
        input = webParams(webReq, raw);
      } catch (err) {
        if (err instanceof WebInputError)
          throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [err.message]);
        throw err;
      }
      if (user) input.__ow_user = user.namespace === '*' ? ns : user.namespace;
      const limited = deps.namespaces.admitCall(ns);
      if (limited) throw limited;
      const activation = await deps.invoker.run(ns, target, input, {
        trace: callerTraceHeaders(req.headers),
      });
      const headers: [string, string][] = [...cors, [ACTIVATION_ID_HEADER, activation.activationId]];
      const code = activation.response.statusCode;
      if (code !== 0 && code !== 1) {
        const error = (activation.response.result as { error?: unknown } | undefined)?.error;
        throw new NimbusError(
          'ERR_OPENWHISK_WEB_FAILED',
          [activation.activationId, String(error).slice(0, 300), activation.activationId],
          {
            headers: Object.fromEntries(headers),
          },
        );
      }
      const value =
        code === 0 ? activation.response.result : (activation.response.result as { error?: unknown }).error;
      let answer: WebAnswer;
      try {
        answer = webAnswer(value, ext);
      } catch (err) {
        if (err instanceof WebResultError)
          throw new NimbusError('ERR_OPENWHISK_WEB_RESPONSE', [err.media, err.message], {
            headers: Object.fromEntries(headers),
          });
        throw err;
      }
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of [...headers, ...answer.headers]) {
        const had = out[k];
        out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : k === 'set-cookie' ? [had, v] : v;
      }
      out['content-length'] = String(answer.body.length);
      res.writeHead(answer.status, out);
      res.end(answer.body);
    } catch (err) {
      dropUnreadBody(req, res);
      sendOwError(res, asNimbusError(err, req, deps), Object.fromEntries(cors));
    }
  };
}

/**
 * `require-whisk-auth`: `true` needs OpenWhisk credentials (a Nimbus key); a string or number is a secret
 * the request must send in X-Require-Whisk-Auth. Returns the authenticated caller, when there is one.
 */
function checkAuth(
  auth: Authenticator,
  req: IncomingMessage,
  name: string,
  required: unknown,
): Principal | undefined {
  if (required === undefined || required === false || required === 'false') return undefined;
  const refused = () => new NimbusError('ERR_OPENWHISK_WEB_UNAUTHORIZED', [name]);
  if (required === true || required === 'true') {
    const principal = auth.principal(req);
    if (!principal) throw refused();
    return principal;
  }
  if (typeof required === 'string' || typeof required === 'number') {
    if (req.headers['x-require-whisk-auth'] !== String(required)) throw refused();
    return undefined;
  }
  throw refused();
}

/** The request's headers for `__ow_headers`: names lower-case; a Nimbus credential is consumed, not passed. */
function requestHeaders(req: IncomingMessage, auth: Authenticator): Record<string, string> {
  const consumed = auth.identify(req)?.nimbus === true;
  const out: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'authorization' && consumed) continue;
    out[name] = name in out ? `${out[name]}, ${raw[i + 1]}` : raw[i + 1]!;
  }
  return out;
}

function rawQuery(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? '' : target.slice(q + 1);
}
