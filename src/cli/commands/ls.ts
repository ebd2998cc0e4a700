// `nimbus ls`: the deployed functions with version, instances and invocations.

import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

export const lsCommand: Command = {
  summary: 'list functions',
  usage: 'nimbus ls [--namespace NS | --all-namespaces] [--json]',
  options: { ...CLIENT_OPTIONS, 'all-namespaces': { type: 'boolean', short: 'A' } },
  async run(values) {
    const all = values['all-namespaces'] === true;
    const { functions } = await clientFrom(values).list(all);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(functions, null, 2)}\n`);
      return 0;
    }
    if (functions.length === 0) {
      process.stdout.write('no functions yet: nimbus new hello && nimbus deploy functions/hello\n');
      return 0;
    }
    const rows = [
      [
        ...(all ? ['NAMESPACE'] : []),
        'NAME',
        'VERSION',
        'RUNTIME',
        'INSTANCES',
        'INVOCATIONS',
        'ERRORS',
        'STATUS',
        'NEXT RUN',
        'URL',
      ],
    ];
    for (const f of functions) {
      rows.push([
        ...(all ? [f.namespace] : []),
        f.name,
        String(f.version),
        f.runtime,
        String(f.instances),
        String(f.invocations),
        String(f.errors),
        f.status,
        f.nextRun ?? '-',
        f.url,
      ]);
    }
    process.stdout.write(`${table(rows)}\n`);
    return 0;
  },
};
