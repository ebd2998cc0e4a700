// `nimbus ns create|set|ls|describe|rm`: namespaces (tenants) and their quotas.
import { stringify } from 'yaml';
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

interface NamespaceView {
  name: string;
  quotas: Record<string, number>;
  createdAt: string;
  usage?: Record<string, number>;
}

/** Flag → quota key. */
const QUOTA_FLAGS = {
  'max-functions': 'maxFunctions',
  'max-instances': 'maxInstances',
  'max-memory-mb': 'maxMemoryMb',
  'max-rps': 'maxRps',
} as const;

const USAGE = [
  'nimbus ns create NAME [--max-functions N] [--max-instances N] [--max-memory-mb N] [--max-rps N]',
  'nimbus ns set NAME [--max-functions N|none] [--max-instances N|none] [--max-memory-mb N|none] [--max-rps N|none]',
  'nimbus ns ls [--json]',
  'nimbus ns describe NAME [--json]',
  'nimbus ns rm NAME',
].join('\n       ');

export const nsCommand: Command = {
  summary: 'namespaces and their quotas: create, set, ls, describe, rm',
  usage: USAGE,
  options: {
    ...CLIENT_OPTIONS,
    ...Object.fromEntries(Object.keys(QUOTA_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
  },
  async run(values, positionals) {
    const [action, name] = positionals;
    const client = clientFrom({ ...values, namespace: undefined });
    const print = (view: NamespaceView) =>
      process.stdout.write(values.json ? `${JSON.stringify(view, null, 2)}\n` : stringify(view));
    const path = (n: string) => `/api/v1/namespaces/${encodeURIComponent(n)}`;
    switch (action) {
      case 'create':
        if (!name) break;
        print(
          await client.call<NamespaceView>('POST', '/api/v1/namespaces', { name, ...quotas(values, false) }),
        );
        return 0;
      case 'set':
        if (!name) break;
        print(await client.call<NamespaceView>('PUT', path(name), quotas(values, true)));
        return 0;
      case 'describe':
        if (!name) break;
        print(await client.call<NamespaceView>('GET', path(name)));
        return 0;
      case 'rm':
        if (!name) break;
        await client.call('DELETE', path(name));
        process.stdout.write(values.json ? `${JSON.stringify({ deleted: name })}\n` : `removed ${name}\n`);
        return 0;
      case 'ls': {
        const { namespaces } = await client.call<{ namespaces: NamespaceView[] }>(
          'GET',
          '/api/v1/namespaces',
        );
        if (values.json) process.stdout.write(`${JSON.stringify(namespaces, null, 2)}\n`);
        else
          process.stdout.write(
            `${table([
              ['NAME', 'MAX FUNCTIONS', 'MAX INSTANCES', 'MAX MEMORY MB', 'MAX RPS', 'CREATED'],
              ...namespaces.map((ns) => [
                ns.name,
                ...Object.values(QUOTA_FLAGS).map((key) => String(ns.quotas[key] ?? '-')),
                ns.createdAt,
              ]),
            ])}\n`,
          );
        return 0;
      }
    }
    throw new NimbusError('ERR_CLI_USAGE', [`usage: ${USAGE}`]);
  },
};

/** The quota flags given: a number, or (for `set`) `none` to clear one. */
function quotas(values: Record<string, unknown>, clearable: boolean): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [flag, key] of Object.entries(QUOTA_FLAGS)) {
    const raw = values[flag] as string | undefined;
    if (raw === undefined) continue;
    if (clearable && raw === 'none') {
      out[key] = null;
      continue;
    }
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < 0)
      throw new NimbusError('ERR_CLI_USAGE', [
        `--${flag} must be a number ≥ 0${clearable ? ' or none' : ''}`,
      ]);
    out[key] = n;
  }
  return out;
}
