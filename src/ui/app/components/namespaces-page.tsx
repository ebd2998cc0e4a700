// Namespaces the credential sees, with their quotas and what is used of them; admins of no namespace create
// new ones.
import { useState } from 'preact/hooks';
import { useSession } from '../access.js';
import { useLoad } from '../hooks.js';
import { href } from '../route.js';
import { namespaceListSchema, namespaceSchema } from '../schemas.js';
import { ErrorBanner, Panel } from './common.js';

const QUOTAS: [string, string][] = [
  ['maxFunctions', 'functions'],
  ['maxInstances', 'instances'],
  ['maxMemoryMb', 'memoryMb'],
  ['maxRps', 'rps'],
];

export function NamespacesPage() {
  const { api, who } = useSession();
  const list = useLoad(
    async () => {
      const { namespaces } = await api.get('/api/v1/namespaces', namespaceListSchema);
      // Usage is on each namespace's own answer.
      return Promise.all(
        namespaces.map((ns) => api.get(`/api/v1/namespaces/${encodeURIComponent(ns.name)}`, namespaceSchema)),
      );
    },
    [],
    10_000,
  );
  const [name, setName] = useState('');
  const [error, setError] = useState<Error>();
  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      await api.send('POST', '/api/v1/namespaces', { name: name.trim() }, namespaceSchema);
      setName('');
      list.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h2>Namespaces</h2>
      <ErrorBanner error={error ?? list.error} />
      <section class="panel table-wrap">
        <table>
          <thead>
            <tr>
              <th>namespace</th>
              {QUOTAS.map(([, label]) => (
                <th key={label} class="num">
                  {label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((ns) => (
              <tr key={ns.name}>
                <td>
                  <a href={href('ns', ns.name, 'functions')}>{ns.name}</a>
                </td>
                {QUOTAS.map(([quota, used]) => (
                  <td key={quota} class="num">
                    {ns.usage?.[used] ?? 0} / {ns.quotas[quota] ?? '∞'}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {who.scope === 'admin' && who.namespace === '*' ? (
        <Panel title="New namespace">
          <form class="row" onSubmit={create} aria-label="create namespace">
            <label class="grow">
              name
              <input name="name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
            </label>
            <button type="submit">Create</button>
          </form>
          <p class="muted">
            Quotas: <code>nimbus ns set NAME --max-rps 100</code> (docs/teams.md).
          </p>
        </Panel>
      ) : null}
    </>
  );
}
