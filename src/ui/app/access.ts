// What the signed-in credential may do, as the gateway decides it (src/auth/authenticate.ts `allows`): the
// dashboard hides what would only be refused. The gateway still checks every request.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api.js';
import type { Whoami } from './schemas.js';

export { homeNamespace, may, mayInvoke } from './scope.js';

export interface Session {
  api: Api;
  who: Whoami;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('used outside a signed-in session');
  return session;
}
