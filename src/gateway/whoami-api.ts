// GET /api/v1/whoami: what the request's credential is (the admin token or a key: its scope, namespace and
// functions), so a client such as the dashboard shows what it may do. Any valid credential may ask, an
// invoke-only key included.
import type { Authenticator } from '../auth/authenticate.js';
import { NimbusError } from '../errors.js';
import { sendJson } from './respond.js';
import type { Router } from './router.js';

export function whoamiRoutes(auth: Authenticator): (router: Router) => void {
  return (router) => {
    router.add(
      'GET',
      '/api/v1/whoami',
      ({ req, res }) => {
        const credential = auth.identify(req);
        if (credential === undefined)
          throw new NimbusError('ERR_AUTH_REQUIRED', [], {
            headers: { 'www-authenticate': 'Bearer realm="nimbus"' },
          });
        const { principal } = credential;
        if (!principal) throw new NimbusError('ERR_AUTH_INVALID');
        sendJson(res, 200, {
          id: principal.id,
          scope: principal.scope,
          namespace: principal.namespace,
          functions: principal.functions,
        });
      },
      // Authenticated here: the route's own check would refuse an invoke-only key.
      { access: 'public' },
    );
  };
}
