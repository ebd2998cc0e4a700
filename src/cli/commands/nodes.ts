// `nimbus nodes`: the cluster's nodes with their load (a single node lists itself).
import { z } from 'zod';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { table } from '../output.js';

const nodesSchema = z.object({
  cluster: z.boolean(),
  nodes: z.array(
    z.object({
      id: z.string(),
      url: z.string(),
      startedAt: z.number(),
      heartbeatAt: z.number(),
      alive: z.boolean(),
      self: z.boolean(),
      load: z.object({
        inflight: z.number(),
        queued: z.number(),
        instances: z.number(),
        asyncRunning: z.number(),
        rssMb: z.number(),
      }),
    }),
  ),
});

export const nodesCommand: Command = {
  summary: 'list the cluster nodes and their load',
  usage: 'nimbus nodes [--json]',
  options: CLIENT_OPTIONS,
  async run(values) {
    const answer = nodesSchema.parse(await clientFrom(values).call('GET', '/api/v1/nodes'));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return 0;
    }
    const rows = [
      ['NODE', 'URL', 'STATE', 'IN FLIGHT', 'QUEUED', 'INSTANCES', 'ASYNC', 'RSS MB', 'HEARTBEAT'],
    ];
    const now = Date.now();
    for (const n of answer.nodes) {
      rows.push([
        `${n.id}${n.self ? ' *' : ''}`,
        n.url,
        n.alive ? 'up' : 'gone',
        String(n.load.inflight),
        String(n.load.queued),
        String(n.load.instances),
        String(n.load.asyncRunning),
        String(n.load.rssMb),
        `${Math.max(0, Math.round((now - n.heartbeatAt) / 1000))}s ago`,
      ]);
    }
    process.stdout.write(`${table(rows)}\n${answer.cluster ? '' : 'single node (no --cluster)\n'}`);
    return 0;
  },
};
