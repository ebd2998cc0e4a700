// Sign-in: a key (the admin token or any access key's secret), checked against /api/v1/whoami.
import { useState } from 'preact/hooks';
import { Api } from '../api.js';
import { type Whoami, whoamiSchema } from '../schemas.js';
import { ErrorBanner } from './common.js';

export function SignIn({
  onSignedIn,
  error: initialError,
}: {
  onSignedIn: (key: string, who: Whoami) => void;
  error?: Error | undefined;
}) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<Error | undefined>(initialError);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const secret = key.trim();
    if (!secret) return;
    setBusy(true);
    setError(undefined);
    try {
      const who = await new Api(secret).get('/api/v1/whoami', whoamiSchema);
      onSignedIn(secret, who);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <section class="panel">
        <h2>Nimbus</h2>
        <form class="stack" onSubmit={submit} autocomplete="off">
          <label>
            Key
            <input
              name="key"
              type="password"
              autocomplete="off"
              autofocus
              placeholder="nmb_… (admin token) or nmbk_… (key secret)"
              value={key}
              onInput={(e) => setKey(e.currentTarget.value)}
            />
          </label>
          <button class="primary" type="submit" disabled={busy || key.trim() === ''}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <ErrorBanner error={error} />
        <p class="muted">
          The admin token is in <code>.nimbus/admin-token</code> where <code>nimbus up</code> runs; a key's
          secret is printed once by <code>nimbus keys create</code>. The dashboard shows what the key's scope
          allows. The key is kept in this tab only (sessionStorage) and sent to this server's API alone.
        </p>
      </section>
    </main>
  );
}
