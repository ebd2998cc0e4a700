// Small pieces every view uses: error banners, status badges, copyable text.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { statusTone } from '../format.js';

export function ErrorBanner({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const code = error instanceof ApiError && error.code ? `${error.code}: ` : '';
  return (
    <div class="error" role="alert">
      {code}
      {error.message}
    </div>
  );
}

export function StatusBadge({ status }: { status: number }) {
  return <span class={`badge ${statusTone(status)}`}>{status}</span>;
}

export function Badge({
  tone,
  children,
}: {
  tone?: 'ok' | 'warn' | 'bad' | undefined;
  children: ComponentChildren;
}) {
  return <span class={`badge ${tone ?? ''}`}>{children}</span>;
}

/** Text to copy: shown in full, with a button that puts it on the clipboard where the browser allows. */
export function CopyText({ text, label }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    navigator.clipboard?.writeText(text).then(
      () => {
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      },
      () => {},
    );
  };
  return (
    <div class="row">
      <pre class="grow mono" title={label}>
        {text}
      </pre>
      {navigator.clipboard ? (
        <button type="button" onClick={copy}>
          {copied ? 'copied' : 'copy'}
        </button>
      ) : null}
    </div>
  );
}

export function Panel({
  title,
  children,
  actions,
}: {
  title?: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section class="panel">
      {title || actions ? (
        <div class="row">
          {title ? <h3>{title}</h3> : null}
          {actions ? <div class="row">{actions}</div> : null}
        </div>
      ) : null}
      {children}
    </section>
  );
}
