// /api/v1/namespaces/{ns}/activations: list (name, skip, limit, since, upto, docs, count), get one, and its
// /logs and /result. Records are the OpenWhisk store's; a queued or running call is not one yet (404).
import { NimbusError } from '../../errors.js';
import { activationView, resultView } from './activation.js';
import { flag, need, type OwCall, paging } from './call.js';
import type { OpenWhiskStore } from './ow-store.js';
import { sendOwJson } from './respond.js';

function epochMs(call: OwCall, name: string): number | undefined {
  const raw = call.url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [`${name} must be a time in epoch milliseconds`]);
  return n;
}

export function activationsApi(ow: OpenWhiskStore) {
  const find = (call: OwCall) => {
    const id = call.params.id!;
    const activation = ow.getActivation(call.namespace, id);
    if (!activation) throw new NimbusError('ERR_OPENWHISK_ACTIVATION_NOT_FOUND', [id.slice(0, 80)]);
    return activation;
  };

  return {
    list(call: OwCall): void {
      need(call, 'read');
      const { skip, limit, count } = paging(call.url);
      // `name` may be qualified (`/ns/name`, `pkg/name`): the last part names the action.
      const raw = call.url.searchParams.get('name') ?? undefined;
      const name = raw === undefined || raw === '' ? undefined : raw.split('/').filter(Boolean).at(-1);
      if (count) {
        sendOwJson(call.res, 200, { activations: ow.countActivations(call.namespace, name) });
        return;
      }
      const records = ow.listActivations(call.namespace, {
        name,
        since: epochMs(call, 'since'),
        upto: epochMs(call, 'upto'),
        skip,
        limit,
      });
      const docs = flag(call.url, 'docs');
      sendOwJson(
        call.res,
        200,
        records.map((a) => activationView(a, docs)),
      );
    },
    get(call: OwCall): void {
      need(call, 'read');
      sendOwJson(call.res, 200, activationView(find(call), true));
    },
    logs(call: OwCall): void {
      need(call, 'read');
      sendOwJson(call.res, 200, { logs: find(call).logs });
    },
    result(call: OwCall): void {
      need(call, 'read');
      sendOwJson(call.res, 200, resultView(find(call)));
    },
  };
}
