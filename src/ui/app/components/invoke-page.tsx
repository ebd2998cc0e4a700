// Invoking for a key that may only invoke (it cannot list functions): name the function, then the form.
import { useState } from 'preact/hooks';
import { useSession } from '../access.js';
import { InvokeForm } from './invoke-form.js';

const NAME_RE = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function InvokePage({ namespace }: { namespace: string }) {
  const { who } = useSession();
  const listed = who.functions === '*' ? undefined : who.functions;
  const [name, setName] = useState(listed?.[0] ?? '');
  return (
    <>
      <h2>Invoke</h2>
      <p class="muted">This key may call functions but not list or inspect them.</p>
      {listed ? (
        <label>
          function
          <select name="function" value={name} onChange={(e) => setName(e.currentTarget.value)}>
            {listed.map((fn) => (
              <option key={fn}>{fn}</option>
            ))}
          </select>
        </label>
      ) : (
        <label>
          function
          <input
            name="function"
            value={name}
            placeholder="hello"
            onInput={(e) => setName(e.currentTarget.value.trim())}
          />
        </label>
      )}
      {NAME_RE.test(name) ? <InvokeForm key={name} namespace={namespace} name={name} /> : null}
    </>
  );
}
