// `nimbus keys create|ls|rm`: access keys with a scope (admin, deploy, invoke, read) over a namespace and
// functions; the secret works as a bearer token, and with the id signs Lambda (SigV4) and OpenWhisk calls.
import { SCOPES } from '../../auth/keys.js';
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

interface KeyView {
  id: string;
  scope: string;
  namespace: string;
  functions: string[] | '*';
  description?: string;
  createdAt: string;
  secret?: string;
}

const USAGE = [
  'nimbus keys create (--scope admin|deploy|invoke|read | --invoke fn1,fn2|*) [--namespace NS] [--functions fn1,fn2|*] [--description TEXT] [--json]',
  'nimbus keys ls [--json]',
  'nimbus keys rm ID',
].join('\n       ');

export const keysCommand: Command = {
  summary: 'access keys with a scope: create, ls, rm',
  usage: USAGE,
  options: {
    ...CLIENT_OPTIONS,
    scope: { type: 'string' },
    invoke: { type: 'string' },
    namespace: { type: 'string' },
    functions: { type: 'string' },
    description: { type: 'string' },
  },
  async run(values, positionals) {
    const [action, id] = positionals;
    const client = clientFrom(values);
    if (action === 'create') {
      const key = await client.call<KeyView>('POST', '/api/v1/keys', createBody(values));
      if (values.json) {
        process.stdout.write(`${JSON.stringify(key, null, 2)}\n`);
        return 0;
      }
      process.stdout.write(
        [
          `id:     ${key.id}`,
          `secret: ${key.secret}`,
          `scope:  ${key.scope} in namespace ${key.namespace}, functions ${formatFunctions(key.functions)}`,
          '',
          'The secret is shown once: store it now. Use it as "Authorization: Bearer <secret>" (or --token,',
          'NIMBUS_TOKEN); for an AWS SDK (docs/compat.md):',
          `  AWS_ACCESS_KEY_ID=${key.id} AWS_SECRET_ACCESS_KEY=${key.secret} AWS_ENDPOINT_URL_LAMBDA=${client.baseUrl}`,
          'for an OpenWhisk client: apihost and api_key',
          `  __OW_API_HOST=${client.baseUrl} __OW_API_KEY=${key.id}:${key.secret}`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    if (action === 'ls') {
      const { keys } = await client.call<{ keys: KeyView[] }>('GET', '/api/v1/keys');
      if (values.json) process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
      else if (keys.length === 0) process.stdout.write('no access keys yet: nimbus keys create --scope …\n');
      else
        process.stdout.write(
          `${table([
            ['ID', 'SCOPE', 'NAMESPACE', 'FUNCTIONS', 'CREATED', 'DESCRIPTION'],
            ...keys.map((k) => [
              k.id,
              k.scope,
              k.namespace,
              formatFunctions(k.functions),
              k.createdAt,
              k.description ?? '',
            ]),
          ])}\n`,
        );
      return 0;
    }
    if (action === 'rm' && id) {
      await client.call('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`);
      process.stdout.write(values.json ? `${JSON.stringify({ deleted: id })}\n` : `removed ${id}\n`);
      return 0;
    }
    throw new NimbusError('ERR_CLI_USAGE', [`usage: ${USAGE}`]);
  },
};

function createBody(values: Record<string, unknown>): Record<string, unknown> {
  const invoke = values.invoke as string | undefined;
  const scope = (values.scope as string | undefined) ?? (invoke !== undefined ? 'invoke' : undefined);
  if (scope === undefined || !(SCOPES as readonly string[]).includes(scope))
    throw new NimbusError('ERR_CLI_USAGE', [
      `say what the key may do: --scope ${SCOPES.join('|')}, or --invoke fn1,fn2 (or '*') for an invoke key`,
    ]);
  if (invoke !== undefined && values.functions !== undefined)
    throw new NimbusError('ERR_CLI_USAGE', ['--invoke names the functions already; drop --functions']);
  const functions = (invoke ?? values.functions) as string | undefined;
  return {
    scope,
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
    ...(functions === undefined ? {} : { functions: parseFunctions(functions) }),
    ...(values.description === undefined ? {} : { description: values.description }),
  };
}

function parseFunctions(list: string): string[] | '*' {
  if (list.trim() === '*') return '*';
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new NimbusError('ERR_CLI_USAGE', ['name at least one function, or "*"']);
  return names;
}

function formatFunctions(functions: string[] | '*'): string {
  return functions === '*' ? '*' : functions.join(',');
}
