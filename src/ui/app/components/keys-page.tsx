// Access keys: list (never secrets), create (the secret is shown once), revoke. For admin credentials.
import { useState } from 'preact/hooks';
import * as z from 'zod/mini';
import { useSession } from '../access.js';
import { time } from '../format.js';
import { useLoad } from '../hooks.js';
import { createdKeySchema, keyListSchema } from '../schemas.js';
import { CopyText, ErrorBanner, Panel } from './common.js';

export function KeysPage() {
  const { api, who } = useSession();
  const keys = useLoad(() => api.get('/api/v1/keys', keyListSchema), []);
  const [form, setForm] = useState({
    scope: 'read',
    namespace: who.namespace === '*' ? 'default' : who.namespace,
    functions: '',
    description: '',
  });
  const [created, setCreated] = useState<z.infer<typeof createdKeySchema>>();
  const [error, setError] = useState<Error>();
  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setCreated(undefined);
    const functions =
      form.functions.trim() === ''
        ? '*'
        : form.functions
            .split(',')
            .map((f) => f.trim())
            .filter(Boolean);
    try {
      const key = await api.send(
        'POST',
        '/api/v1/keys',
        {
          scope: form.scope,
          namespace: form.namespace,
          functions,
          ...(form.description ? { description: form.description } : {}),
        },
        createdKeySchema,
      );
      setCreated(key);
      keys.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const revoke = async (id: string) => {
    if (!confirm(`Revoke key ${id}? Requests with it fail from now on.`)) return;
    setError(undefined);
    try {
      await api.send(
        'DELETE',
        `/api/v1/keys/${encodeURIComponent(id)}`,
        undefined,
        z.object({ deleted: z.string() }),
      );
      keys.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h2>Keys</h2>
      <ErrorBanner error={error ?? keys.error} />
      <Panel title="Create a key">
        <form class="row" onSubmit={create} aria-label="create key">
          <label>
            scope
            <select
              name="scope"
              value={form.scope}
              onChange={(e) => setForm({ ...form, scope: e.currentTarget.value })}
            >
              {['read', 'invoke', 'deploy', 'admin'].map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            namespace
            <input
              name="namespace"
              size={12}
              value={form.namespace}
              disabled={who.namespace !== '*'}
              onInput={(e) => setForm({ ...form, namespace: e.currentTarget.value })}
            />
          </label>
          <label class="grow">
            functions (comma-separated; empty: all)
            <input
              name="functions"
              value={form.functions}
              onInput={(e) => setForm({ ...form, functions: e.currentTarget.value })}
            />
          </label>
          <label class="grow">
            description
            <input
              name="description"
              value={form.description}
              onInput={(e) => setForm({ ...form, description: e.currentTarget.value })}
            />
          </label>
          <button class="primary" type="submit">
            Create
          </button>
        </form>
        {created ? (
          <div class="notice" data-testid="new-key">
            <p>
              Key <code>{created.id}</code> ({created.scope} in {created.namespace}). Its secret, shown this
              once:
            </p>
            <CopyText label="secret" text={created.secret} />
          </div>
        ) : null}
      </Panel>
      <section class="panel table-wrap">
        <table>
          <thead>
            <tr>
              <th>id</th>
              <th>scope</th>
              <th>namespace</th>
              <th>functions</th>
              <th>description</th>
              <th>created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(keys.data?.keys ?? []).map((k) => (
              <tr key={k.id} data-key={k.id}>
                <td class="mono">{k.id}</td>
                <td>{k.scope}</td>
                <td>{k.namespace}</td>
                <td>{k.functions === '*' ? 'all' : k.functions.join(', ')}</td>
                <td class="wrap">{k.description ?? ''}</td>
                <td>{time(k.createdAt)}</td>
                <td>
                  <button type="button" class="danger" onClick={() => revoke(k.id)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {keys.data && keys.data.keys.length === 0 ? <p class="muted">No keys yet.</p> : null}
      </section>
      <CopyText text="nimbus keys ls" />
    </>
  );
}
