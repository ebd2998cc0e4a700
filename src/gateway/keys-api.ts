// /api/v1/keys: access keys for the Lambda-compatible API (an id and a secret to sign requests with).
// Admin token required. The secret is in the answer to the create call only.
import { NimbusError } from '../errors.js';
import type { AccessKeyStore } from '../store/access-keys.js';
import type { Router } from './control-api.js';
import { sendJson } from './respond.js';

export function keyRoutes(keys: AccessKeyStore): (router: Router) => void {
  const view = (k: { accessKeyId: string; createdAt: number }) => ({
    accessKeyId: k.accessKeyId,
    createdAt: new Date(k.createdAt).toISOString(),
  });
  return (router) => {
    router
      .add('POST', '/api/v1/keys', ({ res }) => {
        const key = keys.create();
        sendJson(res, 201, { ...view(key), secretAccessKey: key.secretAccessKey });
      })
      .add('GET', '/api/v1/keys', ({ res }) => {
        sendJson(res, 200, { keys: keys.list().map(view) });
      })
      .add('DELETE', '/api/v1/keys/:id', ({ res, params }) => {
        if (!keys.remove(params.id!)) throw new NimbusError('ERR_KEY_NOT_FOUND', [params.id!.slice(0, 80)]);
        sendJson(res, 200, { deleted: params.id });
      });
  };
}
