// The dashboard's root: sign-in until a key is accepted, then the header (namespace picker, sections, who is
// signed in) and the view the URL's fragment names.
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { homeNamespace, may, type Session, SessionContext, useSession } from '../access.js';
import { Api } from '../api.js';
import { useLoad } from '../hooks.js';
import { href, navigate, useRoute } from '../route.js';
import { namespaceListSchema, type Whoami, whoamiSchema } from '../schemas.js';
import { forgetKey, storedKey, storeKey } from '../session.js';
import { CallsPage } from './calls-page.js';
import { FunctionPage } from './function-page.js';
import { FunctionsPage } from './functions-page.js';
import { InvokePage } from './invoke-page.js';
import { KeysPage } from './keys-page.js';
import { NamespacesPage } from './namespaces-page.js';
import { SecretsPage } from './secrets-page.js';
import { SignIn } from './sign-in.js';

export function App() {
  const [key, setKey] = useState(storedKey);
  const [who, setWho] = useState<Whoami>();
  const [error, setError] = useState<Error>();
  const signOut = useCallback((reason?: Error) => {
    forgetKey();
    setKey(undefined);
    setWho(undefined);
    setError(reason);
  }, []);
  const api = useMemo(
    () =>
      key ? new Api(key, () => signOut(new Error('the key is no longer valid: sign in again'))) : undefined,
    [key, signOut],
  );
  // A key kept from before a reload is checked again.
  useEffect(() => {
    if (!api || who) return;
    api.get('/api/v1/whoami', whoamiSchema).then(setWho, (err: Error) => signOut(err));
  }, [api, who, signOut]);

  if (!api) {
    return (
      <SignIn
        error={error}
        onSignedIn={(secret, whoami) => {
          storeKey(secret);
          // A new sign-in starts at its credential's start page.
          navigate('#/');
          setError(undefined);
          setKey(secret);
          setWho(whoami);
        }}
      />
    );
  }
  if (!who) return <main class="muted">Checking the key…</main>;
  const session: Session = { api, who };
  return (
    <SessionContext.Provider value={session}>
      <Shell who={who} onSignOut={() => signOut()} />
    </SessionContext.Provider>
  );
}

function Shell({ who, onSignOut }: { who: Whoami; onSignOut: () => void }) {
  const route = useRoute();
  const [first, second, third, fourth, fifth] = route.parts;
  const namespace = first === 'ns' && second ? second : homeNamespace(who);
  const section = first === 'ns' ? third : first;
  const readable = may(who, 'read', namespace);

  useEffect(() => {
    if (route.parts.length === 0) navigate(href('ns', homeNamespace(who), readable ? 'functions' : 'invoke'));
  }, [route, who, readable]);

  const nav: [string, string, boolean][] = [
    ['functions', 'Functions', readable],
    ['invoke', 'Invoke', !readable],
    ['calls', 'Async calls', readable],
    ['secrets', 'Secrets', may(who, 'deploy', namespace)],
  ];
  return (
    <>
      <header class="top">
        <a class="brand" href={href('ns', namespace, readable ? 'functions' : 'invoke')}>
          Nimbus
        </a>
        <NamespacePicker who={who} namespace={namespace} section={section ?? 'functions'} />
        <nav class="main" aria-label="sections">
          {nav
            .filter(([, , shown]) => shown)
            .map(([id, label]) => (
              <a
                key={id}
                href={href('ns', namespace, id)}
                class={section === id || (id === 'functions' && section === 'fn') ? 'active' : ''}
              >
                {label}
              </a>
            ))}
          {who.scope === 'admin' ? (
            <a href={href('keys')} class={section === 'keys' ? 'active' : ''}>
              Keys
            </a>
          ) : null}
          {readable ? (
            <a href={href('namespaces')} class={section === 'namespaces' ? 'active' : ''}>
              Namespaces
            </a>
          ) : null}
        </nav>
        <div class="who">
          <span title={`key ${who.id}`}>
            {who.id === 'admin-token' ? 'admin token' : who.id} · {who.scope}
            {who.namespace === '*' ? '' : ` · ${who.namespace}`}
            {who.functions === '*' ? '' : ` · ${who.functions.join(', ')}`}
          </span>
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        {section === 'fn' && fourth ? (
          <FunctionPage
            key={`${namespace}/${fourth}`}
            namespace={namespace}
            name={fourth}
            tab={fifth ?? 'overview'}
            query={route.query}
          />
        ) : section === 'functions' ? (
          <FunctionsPage namespace={namespace} />
        ) : section === 'invoke' ? (
          <InvokePage namespace={namespace} />
        ) : section === 'calls' ? (
          <CallsPage namespace={namespace} query={route.query} />
        ) : section === 'secrets' ? (
          <SecretsPage namespace={namespace} />
        ) : section === 'keys' && who.scope === 'admin' ? (
          <KeysPage />
        ) : section === 'namespaces' ? (
          <NamespacesPage />
        ) : route.parts.length === 0 ? null : (
          <p class="muted">
            Nothing here. <a href="#/">Back to the start</a>
          </p>
        )}
      </main>
    </>
  );
}

/** Picks the namespace the views act in: those the credential sees. */
function NamespacePicker({ who, namespace, section }: { who: Whoami; namespace: string; section: string }) {
  const { api } = useSession();
  const listed = useLoad(
    async () =>
      who.namespace === '*' && may(who, 'read', '*')
        ? (await api.get('/api/v1/namespaces', namespaceListSchema)).namespaces.map((ns) => ns.name)
        : [homeNamespace(who)],
    [who],
    // New namespaces appear without a reload.
    30_000,
  );
  const names = listed.data ?? [namespace];
  const options = names.includes(namespace) ? names : [namespace, ...names];
  // Pages about one namespace keep their section; a function's page goes to the list.
  const target = ['functions', 'invoke', 'calls', 'secrets'].includes(section) ? section : 'functions';
  return (
    <label class="inline">
      namespace
      <select
        name="namespace"
        value={namespace}
        disabled={options.length < 2}
        onChange={(e) => navigate(href('ns', e.currentTarget.value, target))}
      >
        {options.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
