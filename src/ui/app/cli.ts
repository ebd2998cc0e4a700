// The command lines that do what a view shows, for copying into a terminal (docs/cli.md).

/** A word as a POSIX shell reads it literally. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

function nsFlag(namespace: string): string[] {
  return namespace === 'default' ? [] : ['--namespace', namespace];
}

/** `nimbus WORDS… [--namespace NS]`, quoted for a shell. */
export function cliWords(words: string[], namespace: string): string {
  return ['nimbus', ...words, ...nsFlag(namespace)].map(shellQuote).join(' ');
}

export function functionCommands(name: string, namespace: string): string[] {
  const ns = nsFlag(namespace);
  const line = (...words: string[]) => ['nimbus', ...words].map(shellQuote).join(' ');
  return [
    line('describe', name, ...ns),
    line('invoke', name, ...ns, '--data', '{}'),
    line('logs', name, ...ns, '--follow'),
    line('versions', name, ...ns),
    line('calls', 'ls', name, ...ns),
    line('rm', name, ...ns),
  ];
}

export interface InvokeRequest {
  name: string;
  namespace: string;
  method: string;
  path: string;
  headers: [string, string][];
  body: string;
  /** The request carries a key: the commands take it from $NIMBUS_KEY (never the key itself). */
  withKey?: boolean;
}

/** The key as a shell expands it from the environment (in double quotes, so it stays one word). */
const KEY_FROM_ENV = '"$NIMBUS_KEY"';

/** `nimbus invoke` for a request the invoke form sends. */
export function invokeCommand(r: InvokeRequest): string {
  const words = ['nimbus', 'invoke', r.name, ...nsFlag(r.namespace)];
  if (r.method !== (r.body ? 'POST' : 'GET')) words.push('-X', r.method);
  if (r.path) words.push('--path', r.path);
  for (const [name, value] of r.headers) words.push('-H', `${name}: ${value}`);
  if (r.body) words.push('--data', r.body);
  return [...words.map(shellQuote), ...(r.withKey ? ['--key', KEY_FROM_ENV] : [])].join(' ');
}

/** The same request with curl, against `origin`. */
export function curlCommand(origin: string, r: InvokeRequest): string {
  const id = r.namespace === 'default' ? r.name : `${r.name}.${r.namespace}`;
  const words = ['curl', '-i', '-X', r.method, `${origin}/function/${id}${r.path}`];
  for (const [name, value] of r.headers) words.push('-H', `${name}: ${value}`);
  if (r.body) words.push('--data-binary', r.body);
  const key = r.withKey ? ['-H', '"authorization: Bearer $NIMBUS_KEY"'] : [];
  return [...words.map(shellQuote), ...key].join(' ');
}
