// Secrets of a namespace, by name only: the API never sends a value back. Read from OpenFaaS's
// /system/secrets shape, which Nimbus answers once it has a secrets store.
import { useSession } from '../access.js';
import { ApiError, query } from '../api.js';
import { useLoad } from '../hooks.js';
import { secretListSchema } from '../schemas.js';
import { CopyText, ErrorBanner } from './common.js';

export function SecretsPage({ namespace }: { namespace: string }) {
  const { api } = useSession();
  const secrets = useLoad(
    () => api.get(`/system/secrets${query({ namespace })}`, secretListSchema),
    [namespace],
  );
  const unsupported = secrets.error instanceof ApiError && secrets.error.code === 'ERR_SECRETS_UNSUPPORTED';
  return (
    <>
      <div class="row head">
        <h2>Secrets</h2>
        <span class="muted">in {namespace}</span>
      </div>
      {unsupported ? (
        <p class="notice">This Nimbus has no secrets store yet: {secrets.error?.message}</p>
      ) : (
        <ErrorBanner error={secrets.error} />
      )}
      {secrets.data ? (
        <section class="panel table-wrap">
          {secrets.data.length === 0 ? <p class="muted">No secrets.</p> : null}
          <table>
            <tbody>
              {secrets.data.map((s) => (
                <tr key={s.name}>
                  <td class="mono">{s.name}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      <p class="muted">
        Names only: values are write-only. A function names the secrets it reads in its spec.
      </p>
      <CopyText text={`faas-cli secret list${namespace === 'default' ? '' : ` --namespace ${namespace}`}`} />
    </>
  );
}
