// `nimbus rm NAME`: removes a function (its instances finish what they are doing, then stop).
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';

export const rmCommand: Command = {
  summary: 'remove a function',
  usage: 'nimbus rm NAME [--json]',
  options: CLIENT_OPTIONS,
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw new NimbusError('ERR_CLI_USAGE', ['name the function: nimbus rm hello']);
    const result = await clientFrom(values).remove(name);
    process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : `removed ${name}\n`);
    return 0;
  },
};
