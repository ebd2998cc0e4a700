// `nimbus calls ls [FN] | get ID | redrive ID|--all`: async call records, dead letters and their redrive.
import { stringify } from 'yaml';
import { NimbusError } from '../../errors.js';
import type { NimbusClient } from '../client.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

interface CallSummary {
  id: string;
  function: string;
  source: string;
  status: string;
  attempts: number;
  createdAt: string;
  finishedAt?: string;
  nextAttemptAt?: string;
  response?: { status: number };
  error?: { code: string };
}

const USAGE = `nimbus calls ls [FUNCTION] [--status queued|running|succeeded|failed|dead] [--limit 50] [--json]
       nimbus calls get ID [--json]
       nimbus calls redrive ID | nimbus calls redrive --all [--function FUNCTION]`;

export const callsCommand: Command = {
  summary: 'list async calls, show one, redrive dead letters',
  usage: USAGE,
  options: {
    ...CLIENT_OPTIONS,
    status: { type: 'string' },
    limit: { type: 'string' },
    all: { type: 'boolean' },
    function: { type: 'string' },
  },
  async run(values, positionals) {
    const [sub, arg] = positionals;
    const client = clientFrom(values);
    switch (sub) {
      case 'ls':
        return list(client, arg, values);
      case 'get':
        if (!arg)
          throw new NimbusError('ERR_CLI_USAGE', [`name the call: nimbus calls get ID\nUsage: ${USAGE}`]);
        return get(client, arg, values.json === true);
      case 'redrive':
        return redrive(client, arg, values);
      default:
        throw new NimbusError('ERR_CLI_USAGE', [
          `${sub ? `unknown sub-command "${sub}"` : 'a sub-command is needed'}\nUsage: ${USAGE}`,
        ]);
    }
  },
};

async function list(
  client: NimbusClient,
  fn: string | undefined,
  values: Record<string, unknown>,
): Promise<number> {
  const query = new URLSearchParams();
  if (fn) query.set('function', client.functionId(fn));
  if (values.status !== undefined) query.set('status', String(values.status));
  query.set('limit', String(values.limit ?? 50));
  const { calls, counts } = await client.call<{ calls: CallSummary[]; counts: Record<string, number> }>(
    'GET',
    `/system/calls?${query}`,
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ calls, counts }, null, 2)}\n`);
    return 0;
  }
  if (calls.length === 0) {
    process.stdout.write('no calls\n');
  } else {
    const rows = [['ID', 'FUNCTION', 'STATUS', 'ATTEMPTS', 'HTTP', 'SOURCE', 'CREATED', 'DONE / NEXT TRY']];
    for (const c of calls) {
      rows.push([
        c.id,
        c.function,
        c.status,
        String(c.attempts),
        c.response ? String(c.response.status) : (c.error?.code ?? '-'),
        c.source,
        c.createdAt,
        c.finishedAt ?? c.nextAttemptAt ?? '-',
      ]);
    }
    process.stdout.write(`${table(rows)}\n`);
  }
  const summary = Object.entries(counts)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  process.stdout.write(`${fn ? `${fn}: ` : ''}${summary}\n`);
  return 0;
}

async function get(client: NimbusClient, id: string, json: boolean): Promise<number> {
  const call = await client.call<unknown>('GET', `/system/calls/${encodeURIComponent(id)}`);
  process.stdout.write(json ? `${JSON.stringify(call, null, 2)}\n` : stringify(call));
  return 0;
}

async function redrive(
  client: NimbusClient,
  id: string | undefined,
  values: Record<string, unknown>,
): Promise<number> {
  if (values.all) {
    if (id) throw new NimbusError('ERR_CLI_USAGE', ['give a call id or --all, not both']);
    const fn = values.function as string | undefined;
    const query = fn ? `?function=${encodeURIComponent(client.functionId(fn))}` : '';
    const { redriven } = await client.call<{ redriven: number }>('POST', `/system/calls/redrive${query}`);
    if (values.json) process.stdout.write(`${JSON.stringify({ redriven })}\n`);
    else
      process.stdout.write(
        `redrove ${redriven} dead call${redriven === 1 ? '' : 's'}${fn ? ` of ${fn}` : ''}\n`,
      );
    return 0;
  }
  if (!id) throw new NimbusError('ERR_CLI_USAGE', [`name the call, or --all\nUsage: ${USAGE}`]);
  const call = await client.call<CallSummary>('POST', `/system/calls/${encodeURIComponent(id)}/redrive`);
  if (values.json) process.stdout.write(`${JSON.stringify(call, null, 2)}\n`);
  else process.stdout.write(`redrove ${call.id} (${call.function}): ${call.status}\n`);
  return 0;
}
