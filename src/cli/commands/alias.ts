// `nimbus alias set|ls|rm`: named pointers to a function's versions, with a share of calls to others
// (`--weight 8=10`: 10 percent to version 8), invoked at /function/NAME@ALIAS.
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

interface AliasView {
  name: string;
  version: number;
  weights: Record<string, number>;
  description?: string;
  updatedAt: string;
}

const USAGE = [
  'nimbus alias set NAME ALIAS VERSION [--weight VERSION=PERCENT]... [--description TEXT]',
  'nimbus alias ls NAME [--json]',
  'nimbus alias rm NAME ALIAS',
].join('\n       ');

export const aliasCommand: Command = {
  summary: "a function's aliases (with weighted traffic): set, ls, rm",
  usage: USAGE,
  options: {
    ...CLIENT_OPTIONS,
    weight: { type: 'string', multiple: true },
    description: { type: 'string' },
  },
  async run(values, positionals) {
    const [action, name, alias, version] = positionals;
    const client = clientFrom(values);
    if (action === 'set' && name && alias && version) {
      const v = Number(version);
      if (!Number.isInteger(v) || v < 1)
        throw new NimbusError('ERR_CLI_USAGE', ['VERSION is a version number']);
      const view = await client.call<AliasView>(
        'PUT',
        client.functionPath(name, `/aliases/${encodeURIComponent(alias)}`),
        {
          version: v,
          weights: weights((values.weight as string[] | undefined) ?? []),
          ...(values.description === undefined ? {} : { description: values.description }),
        },
      );
      process.stdout.write(
        values.json ? `${JSON.stringify(view, null, 2)}\n` : `${name}@${view.name} → ${describe(view)}\n`,
      );
      return 0;
    }
    if (action === 'ls' && name) {
      const { aliases } = await client.call<{ aliases: AliasView[] }>(
        'GET',
        client.functionPath(name, '/aliases'),
      );
      if (values.json) process.stdout.write(`${JSON.stringify(aliases, null, 2)}\n`);
      else if (aliases.length === 0)
        process.stdout.write(`no aliases: nimbus alias set ${name} live VERSION\n`);
      else
        process.stdout.write(
          `${table([['ALIAS', 'ROUTES TO', 'UPDATED', 'DESCRIPTION'], ...aliases.map((a) => [a.name, describe(a), a.updatedAt, a.description ?? ''])])}\n`,
        );
      return 0;
    }
    if (action === 'rm' && name && alias) {
      await client.call('DELETE', client.functionPath(name, `/aliases/${encodeURIComponent(alias)}`));
      process.stdout.write(`removed ${name}@${alias}\n`);
      return 0;
    }
    throw new NimbusError('ERR_CLI_USAGE', [`usage: ${USAGE}`]);
  },
};

/** `8=10` → {"8": 10}. */
function weights(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of list) {
    const m = /^(\d+)=(\d+(?:\.\d+)?)$/.exec(item.trim());
    if (!m) throw new NimbusError('ERR_CLI_USAGE', [`--weight "${item}" must be VERSION=PERCENT, e.g. 8=10`]);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function describe(a: AliasView): string {
  const others = Object.entries(a.weights);
  if (others.length === 0) return `version ${a.version}`;
  const rest = 100 - others.reduce((sum, [, p]) => sum + p, 0);
  return [`version ${a.version} (${rest}%)`, ...others.map(([v, p]) => `version ${v} (${p}%)`)].join(', ');
}
