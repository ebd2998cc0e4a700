// `nimbus versions NAME` and `nimbus rollback NAME [--to N]`: a function's immutable versions, and making an
// older one current at once (the current one drains).
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

interface VersionsView {
  current: number;
  versions: { version: number; current: boolean; runtime: string; createdAt: string; aliases: string[] }[];
}

export const versionsCommand: Command = {
  summary: "list a function's versions and the aliases on them",
  usage: 'nimbus versions NAME [--namespace NS] [--json]',
  options: CLIENT_OPTIONS,
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw new NimbusError('ERR_CLI_USAGE', ['name the function: nimbus versions hello']);
    const client = clientFrom(values);
    const view = await client.call<VersionsView>('GET', client.functionPath(name, '/versions'));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      return 0;
    }
    const rows = [['VERSION', 'CURRENT', 'RUNTIME', 'CREATED', 'ALIASES']];
    for (const v of view.versions)
      rows.push([String(v.version), v.current ? '*' : '', v.runtime, v.createdAt, v.aliases.join(',')]);
    process.stdout.write(`${table(rows)}\n`);
    return 0;
  },
};

export const rollbackCommand: Command = {
  summary: 'make an earlier version current (default: the one before)',
  usage: 'nimbus rollback NAME [--to VERSION] [--namespace NS] [--json]',
  options: { ...CLIENT_OPTIONS, to: { type: 'string' } },
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw new NimbusError('ERR_CLI_USAGE', ['name the function: nimbus rollback hello [--to 3]']);
    const to = values.to === undefined ? undefined : Number(values.to);
    if (to !== undefined && !(Number.isInteger(to) && to >= 1))
      throw new NimbusError('ERR_CLI_USAGE', [
        '--to takes a version number (nimbus versions NAME lists them)',
      ]);
    const client = clientFrom(values);
    const fn = await client.call<{ name: string; version: number }>(
      'POST',
      client.functionPath(name, '/rollback'),
      to === undefined ? {} : { to },
    );
    process.stdout.write(
      values.json ? `${JSON.stringify(fn, null, 2)}\n` : `${fn.name} is at version ${fn.version}\n`,
    );
    return 0;
  },
};
