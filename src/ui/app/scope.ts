// What a credential may do, as the gateway decides it (src/auth/authenticate.ts `allows`): plain functions,
// no DOM or Preact, so test/ui/app-logic.test.ts checks them under Node.
import type { Whoami } from './schemas.js';

const RANK = { invoke: 0, read: 1, deploy: 2, admin: 3 } as const;

function inReach(who: Whoami, namespace: string, fn?: string): boolean {
  if (who.namespace !== '*' && who.namespace !== namespace) return false;
  return fn === undefined || who.functions === '*' || who.functions.includes(fn);
}

/** `read` (look), `deploy` (change functions, redrive), `admin` (keys) in `namespace` (and on `fn`). */
export function may(
  who: Whoami,
  access: 'read' | 'deploy' | 'admin',
  namespace: string,
  fn?: string,
): boolean {
  return RANK[who.scope] >= RANK[access] && inReach(who, namespace, fn);
}

/** Whether the credential may call a private function (a public one anyone may call). */
export function mayInvoke(who: Whoami, namespace: string, fn: string): boolean {
  return who.scope !== 'read' && inReach(who, namespace, fn);
}

/** The namespace a credential starts in. */
export function homeNamespace(who: Whoami): string {
  return who.namespace === '*' ? 'default' : who.namespace;
}
