// GET /api/v1/nodes: the nodes of the cluster with their load (a single node lists itself).

import { sendJson } from '../gateway/respond.js';
import type { Router } from '../gateway/router.js';
import type { NodeLoad, NodeView } from './membership.js';

export interface NodesDeps {
  /** The cluster's membership; absent on a single node. */
  nodes: () => NodeView[] | undefined;
  /** This node (listed alone on a single node). */
  self: () => { id: string; url: string; startedAt: number; load: NodeLoad };
}

export function nodesRoutes(deps: NodesDeps): (router: Router) => void {
  return (router) => {
    router.add(
      'GET',
      '/api/v1/nodes',
      ({ res }) => {
        const nodes = deps.nodes();
        if (nodes) return sendJson(res, 200, { cluster: true, nodes });
        const self = deps.self();
        sendJson(res, 200, {
          cluster: false,
          nodes: [{ ...self, heartbeatAt: Date.now(), version: '0.1.0', alive: true, self: true }],
        });
      },
      { access: 'read' },
    );
  };
}
