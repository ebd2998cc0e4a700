// `nimbus secret create|update|ls|rm`: the secrets store (faas-cli's `secret`). A value comes from a file,
// a literal or stdin, goes to the gateway once and is never printed; functions name the secrets they get
// (`secrets:` in nimbus.yml or stack.yml) and read them at /var/openfaas/secrets/<name>.
import { readFileSync } from 'node:fs';
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

interface SecretView {
  name: string;
  createdAt: string;
  updatedAt: string;
  usedBy: string[];
}

const USAGE = [
  'nimbus secret create NAME [--from-file PATH | --from-literal VALUE] [--namespace NS]   (else the value is read from stdin)',
  'nimbus secret update NAME [--from-file PATH | --from-literal VALUE]',
  'nimbus secret ls [--json]',
  'nimbus secret rm NAME',
].join('\n       ');

export const secretCommand: Command = {
  summary: 'secrets functions read as files: create, update, ls, rm',
  usage: USAGE,
  options: {
    ...CLIENT_OPTIONS,
    'from-file': { type: 'string' },
    'from-literal': { type: 'string' },
  },
  async run(values, positionals) {
    const [action, name, extra] = positionals;
    const client = clientFrom(values);
    // The namespace (--namespace, NIMBUS_NAMESPACE) whose secrets these are.
    const ns = client.namespace === undefined ? '' : `?namespace=${encodeURIComponent(client.namespace)}`;
    if ((action === 'create' || action === 'update') && name && extra === undefined) {
      const value = await readValue(values);
      const body = Buffer.isBuffer(value) ? { valueBase64: value.toString('base64') } : { value };
      const view =
        action === 'create'
          ? await client.call<SecretView>('POST', `/api/v1/secrets${ns}`, { name, ...body })
          : await client.call<SecretView>('PUT', `/api/v1/secrets/${encodeURIComponent(name)}${ns}`, body);
      if (values.json) process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      else process.stdout.write(`${action === 'create' ? 'created' : 'updated'} secret ${view.name}\n`);
      return 0;
    }
    if (action === 'ls' && name === undefined) {
      const { secrets } = await client.call<{ secrets: SecretView[] }>('GET', `/api/v1/secrets${ns}`);
      if (values.json) process.stdout.write(`${JSON.stringify(secrets, null, 2)}\n`);
      else if (secrets.length === 0) process.stdout.write('no secrets yet: nimbus secret create NAME\n');
      else
        process.stdout.write(
          `${table([
            ['NAME', 'USED BY', 'UPDATED'],
            ...secrets.map((s) => [s.name, s.usedBy.join(',') || '-', s.updatedAt]),
          ])}\n`,
        );
      return 0;
    }
    if (action === 'rm' && name && extra === undefined) {
      await client.call('DELETE', `/api/v1/secrets/${encodeURIComponent(name)}${ns}`);
      process.stdout.write(
        values.json ? `${JSON.stringify({ deleted: name })}\n` : `removed secret ${name}\n`,
      );
      return 0;
    }
    throw new NimbusError('ERR_CLI_USAGE', [`usage: ${USAGE}`]);
  },
};

/** The value: a file's bytes, a literal's text, or stdin's bytes when it is not a terminal. */
async function readValue(values: Record<string, unknown>): Promise<Buffer | string> {
  const file = values['from-file'] as string | undefined;
  const literal = values['from-literal'] as string | undefined;
  if (file !== undefined && literal !== undefined)
    throw new NimbusError('ERR_CLI_USAGE', ['give the value once: --from-file or --from-literal']);
  if (literal !== undefined) return literal;
  if (file !== undefined) {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new NimbusError('ERR_CLI_USAGE', [`cannot read ${file}: ${(err as Error).message}`]);
    }
  }
  if (process.stdin.isTTY)
    throw new NimbusError('ERR_CLI_USAGE', [
      'give the value: --from-file PATH, --from-literal VALUE, or pipe it in',
    ]);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
