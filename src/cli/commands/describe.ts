// `nimbus describe NAME`: one function's spec and live state.

import { stringify } from 'yaml';
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';

export const describeCommand: Command = {
  summary: "show a function's spec and state",
  usage: 'nimbus describe NAME [--json]',
  options: CLIENT_OPTIONS,
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw new NimbusError('ERR_CLI_USAGE', ['name the function: nimbus describe hello']);
    const fn = await clientFrom(values).get(name);
    process.stdout.write(values.json ? `${JSON.stringify(fn, null, 2)}\n` : stringify(fn));
    return 0;
  },
};
