// Secrets of a namespace, by name only (/api/v1/secrets never sends a value back): which functions use each,
// a form that sends a new value (write-only) and removal. A gateway without a secrets API says so.
import { useState } from 'preact/hooks';
import * as z from 'zod/mini';
import { may, useSession } from '../access.js';
import { ApiError, query } from '../api.js';
import { cliWords } from '../cli.js';
import { time } from '../format.js';
import { useLoad } from '../hooks.js';
import { secretListSchema, secretSchema } from '../schemas.js';
import { CopyText, ErrorBanner, Panel } from './common.js';

/** Whether `error` says the gateway has no secrets API at all (an older Nimbus). */
export function noSecretsApi(error: Error | undefined): boolean {
  return error instanceof ApiError && error.code === 'ERR_ROUTE_NOT_FOUND';
}

export function SecretsPage({ namespace }: { namespace: string }) {
  const { api, who } = useSession();
  const ns = query({ namespace });
  const secrets = useLoad(() => api.get(`/api/v1/secrets${ns}`, secretListSchema), [namespace]);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [error, setError] = useState<Error>();
  const [done, setDone] = useState('');
  const unavailable = noSecretsApi(secrets.error);
  const listed = secrets.data?.secrets ?? [];
  const canChange = may(who, 'deploy', namespace);

  const save = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setDone('');
    const secretName = name.trim();
    const exists = listed.some((s) => s.name === secretName);
    try {
      if (exists)
        await api.send(
          'PUT',
          `/api/v1/secrets/${encodeURIComponent(secretName)}${ns}`,
          { value },
          secretSchema,
        );
      else await api.send('POST', `/api/v1/secrets${ns}`, { name: secretName, value }, secretSchema);
      setName('');
      setValue('');
      setDone(
        exists
          ? `secret ${secretName} has a new value (instances started from now on read it)`
          : `secret ${secretName} created`,
      );
      secrets.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const remove = async (secretName: string) => {
    if (!confirm(`Remove secret ${secretName}?`)) return;
    setError(undefined);
    setDone('');
    try {
      await api.send(
        'DELETE',
        `/api/v1/secrets/${encodeURIComponent(secretName)}${ns}`,
        undefined,
        z.object({ deleted: z.string() }),
      );
      setDone(`secret ${secretName} removed`);
      secrets.reload();
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <>
      <div class="row head">
        <h2>Secrets</h2>
        <span class="muted">in {namespace}</span>
      </div>
      {unavailable ? (
        <p class="notice" data-testid="secrets-unavailable">
          Secrets are unavailable: this Nimbus has no secrets API (<code>/api/v1/secrets</code>). Pass values
          as environment variables until it does.
        </p>
      ) : (
        <ErrorBanner error={error ?? secrets.error} />
      )}
      {done ? <p class="notice">{done}</p> : null}
      {secrets.data ? (
        <section class="panel table-wrap">
          {listed.length === 0 ? (
            <p class="muted">No secrets in {namespace}.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>name</th>
                  <th>used by</th>
                  <th>updated</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {listed.map((s) => (
                  <tr key={s.name} data-secret={s.name}>
                    <td class="mono">{s.name}</td>
                    <td class="wrap">
                      {s.usedBy.length ? s.usedBy.join(', ') : <span class="muted">none</span>}
                    </td>
                    <td>{time(s.updatedAt)}</td>
                    <td>
                      {canChange ? (
                        <button
                          type="button"
                          class="danger"
                          disabled={s.usedBy.length > 0}
                          title={s.usedBy.length ? 'in use: remove it from those functions first' : ''}
                          onClick={() => remove(s.name)}
                        >
                          Remove
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ) : null}
      {secrets.data && canChange ? (
        <Panel title="Create or update">
          <form class="row" onSubmit={save}>
            <label>
              name
              <input
                name="secret-name"
                value={name}
                required
                autocomplete="off"
                onInput={(e) => setName(e.currentTarget.value)}
              />
            </label>
            <label class="grow">
              value (sent once; never shown again)
              <input
                name="secret-value"
                type="password"
                value={value}
                required
                autocomplete="new-password"
                onInput={(e) => setValue(e.currentTarget.value)}
              />
            </label>
            <button type="submit" class="primary">
              Save
            </button>
          </form>
        </Panel>
      ) : null}
      <p class="muted">
        Names only: values are write-only. A function names the secrets it reads in its spec (
        <code>secrets:</code>) and reads each at <code>/var/openfaas/secrets/NAME</code>.
      </p>
      {unavailable ? null : <CopyText text={cliWords(['secret', 'ls'], namespace)} label="nimbus command" />}
    </>
  );
}
