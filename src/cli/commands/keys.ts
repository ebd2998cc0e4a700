// `nimbus keys create|ls|rm`: access keys for the Lambda-compatible API (AWS SDKs sign requests with them).
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

interface KeyView {
  accessKeyId: string;
  createdAt: string;
  secretAccessKey?: string;
}

export const keysCommand: Command = {
  summary: 'access keys for the Lambda API (create, ls, rm)',
  usage: 'nimbus keys create [--json] | nimbus keys ls [--json] | nimbus keys rm ACCESS_KEY_ID',
  options: CLIENT_OPTIONS,
  async run(values, positionals) {
    const [action, id] = positionals;
    const client = clientFrom(values);
    if (action === 'create') {
      const key = await client.call<KeyView>('POST', '/api/v1/keys');
      if (values.json) {
        process.stdout.write(`${JSON.stringify(key, null, 2)}\n`);
        return 0;
      }
      process.stdout.write(
        [
          `AWS_ACCESS_KEY_ID=${key.accessKeyId}`,
          `AWS_SECRET_ACCESS_KEY=${key.secretAccessKey}`,
          '',
          'The secret is shown once: store it now. Point an AWS SDK at Nimbus with',
          `endpoint ${client.baseUrl} and any region (docs/compat.md).`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    if (action === 'ls') {
      const { keys } = await client.call<{ keys: KeyView[] }>('GET', '/api/v1/keys');
      if (values.json) process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
      else if (keys.length === 0) process.stdout.write('no access keys yet: nimbus keys create\n');
      else
        process.stdout.write(
          `${table([['ACCESS KEY ID', 'CREATED'], ...keys.map((k) => [k.accessKeyId, k.createdAt])])}\n`,
        );
      return 0;
    }
    if (action === 'rm' && id) {
      await client.call('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`);
      process.stdout.write(values.json ? `${JSON.stringify({ deleted: id })}\n` : `removed ${id}\n`);
      return 0;
    }
    throw new NimbusError('ERR_CLI_USAGE', [`usage: ${this.usage}`]);
  },
};
