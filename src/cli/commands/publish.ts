// `nimbus publish SUBJECT --data …`: publishes a message to a topic (functions with `topics:` run), or with
// --request waits for the reply. Over NATS in a cluster; in-process on a single node.
import { readFileSync } from 'node:fs';
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';

export const publishCommand: Command = {
  summary: 'publish a message to a topic (runs the functions subscribed to it)',
  usage: 'nimbus publish SUBJECT [--data TEXT | --file PATH] [--request] [--timeout MS]',
  options: {
    ...CLIENT_OPTIONS,
    data: { type: 'string' },
    file: { type: 'string' },
    request: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run(values, positionals) {
    const [subject] = positionals;
    if (!subject || positionals.length > 1)
      throw new NimbusError('ERR_CLI_USAGE', [`give one subject\nUsage: ${publishCommand.usage}`]);
    if (values.data !== undefined && values.file !== undefined)
      throw new NimbusError('ERR_CLI_USAGE', ['give --data or --file, not both']);
    const body =
      values.file !== undefined
        ? readFileSync(values.file as string)
        : Buffer.from((values.data as string | undefined) ?? '');
    const client = clientFrom(values);
    const query = new URLSearchParams();
    // The namespace's own topics (`--namespace`), as its functions see them.
    if (client.namespace !== undefined) query.set('namespace', client.namespace);
    if (values.request) query.set('request', 'true');
    if (values.timeout !== undefined) query.set('timeoutMs', String(values.timeout));
    const res = await client.raw('POST', `/api/v1/topics/${encodeURIComponent(subject)}?${query}`, body);
    if (values.request) process.stdout.write(res);
    else process.stdout.write(values.json ? `${res.toString()}\n` : `published to ${subject}\n`);
    return 0;
  },
};
