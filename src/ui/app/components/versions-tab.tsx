// A function's versions and aliases: which is current, roll back, point an alias (with a traffic split)
// or remove one.
import { useState } from 'preact/hooks';
import * as z from 'zod/mini';
import { may, useSession } from '../access.js';
import { query } from '../api.js';
import { time } from '../format.js';
import { useLoad } from '../hooks.js';
import { aliasListSchema, aliasSchema, functionSchema, versionsSchema } from '../schemas.js';
import { CopyText, ErrorBanner, Panel } from './common.js';

export function VersionsTab({
  namespace,
  name,
  onChanged,
}: {
  namespace: string;
  name: string;
  onChanged: () => void;
}) {
  const { api, who } = useSession();
  const base = `/api/v1/functions/${encodeURIComponent(name)}`;
  const ns = query({ namespace });
  const versions = useLoad(() => api.get(`${base}/versions${ns}`, versionsSchema), [namespace, name]);
  const aliases = useLoad(() => api.get(`${base}/aliases${ns}`, aliasListSchema), [namespace, name]);
  const [error, setError] = useState<Error>();
  const [alias, setAlias] = useState({ name: '', version: '', weights: '' });
  const canDeploy = may(who, 'deploy', namespace, name);
  const nsFlag = namespace === 'default' ? '' : ` --namespace ${namespace}`;

  const act = async (work: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await work();
      versions.reload();
      aliases.reload();
      onChanged();
    } catch (err) {
      setError(err as Error);
    }
  };
  const rollback = (to: number) =>
    act(() => api.send('POST', `${base}/rollback${ns}`, { to }, functionSchema));
  const removeAlias = (alias: string) =>
    act(() =>
      api.send(
        'DELETE',
        `${base}/aliases/${encodeURIComponent(alias)}${ns}`,
        undefined,
        z.object({ deleted: z.string() }),
      ),
    );
  const setAliasTo = (event: Event) => {
    event.preventDefault();
    const weights: Record<string, number> = {};
    for (const part of alias.weights
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const [v, pct] = part.split('=');
      weights[String(Number(v))] = Number(pct);
    }
    void act(() =>
      api.send(
        'PUT',
        `${base}/aliases/${encodeURIComponent(alias.name)}${ns}`,
        { version: Number(alias.version), weights },
        aliasSchema,
      ),
    );
  };

  return (
    <>
      <ErrorBanner error={error ?? versions.error ?? aliases.error} />
      <Panel title="Versions">
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>version</th>
                <th>runtime</th>
                <th>deployed</th>
                <th>aliases</th>
                <th>bundle</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {[...(versions.data?.versions ?? [])].reverse().map((v) => (
                <tr key={v.version}>
                  <td>
                    v{v.version} {v.current ? <span class="badge ok">current</span> : null}
                  </td>
                  <td>{v.runtime}</td>
                  <td>{time(v.createdAt)}</td>
                  <td>{v.aliases.join(', ')}</td>
                  <td class="mono">{v.bundle.slice(0, 12)}</td>
                  <td>
                    {canDeploy && !v.current ? (
                      <button type="button" onClick={() => rollback(v.version)}>
                        Make current
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <CopyText text={`nimbus versions ${name}${nsFlag}\nnimbus rollback ${name}${nsFlag}`} />
      </Panel>
      <Panel title="Aliases">
        {aliases.data && aliases.data.aliases.length === 0 ? <p class="muted">No aliases.</p> : null}
        {aliases.data && aliases.data.aliases.length > 0 ? (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>alias</th>
                  <th>version</th>
                  <th>split</th>
                  <th>URL</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {aliases.data.aliases.map((a) => (
                  <tr key={a.name}>
                    <td>{a.name}</td>
                    <td>v{a.version}</td>
                    <td>
                      {Object.entries(a.weights)
                        .map(([v, pct]) => `${pct}% → v${v}`)
                        .join(', ') || '–'}
                    </td>
                    <td class="mono">
                      /function/{namespace === 'default' ? name : `${name}.${namespace}`}@{a.name}
                    </td>
                    <td>
                      {canDeploy ? (
                        <button type="button" class="danger" onClick={() => removeAlias(a.name)}>
                          Remove
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        {canDeploy ? (
          <form class="row" onSubmit={setAliasTo} aria-label="set alias">
            <label>
              alias
              <input
                name="alias"
                required
                size={10}
                value={alias.name}
                onInput={(e) => setAlias({ ...alias, name: e.currentTarget.value })}
              />
            </label>
            <label>
              version
              <input
                name="version"
                required
                inputMode="numeric"
                size={5}
                value={alias.version}
                onInput={(e) => setAlias({ ...alias, version: e.currentTarget.value })}
              />
            </label>
            <label class="grow">
              split (version=percent, …)
              <input
                name="weights"
                placeholder="8=10"
                value={alias.weights}
                onInput={(e) => setAlias({ ...alias, weights: e.currentTarget.value })}
              />
            </label>
            <button type="submit">Set alias</button>
          </form>
        ) : null}
      </Panel>
    </>
  );
}
