// Self time per function of a .cpuprofile, as a share of its busy (non-idle) samples.
// `node --import tsx bench/profile/summary.ts FILE... [--top N]`.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export function summarize(file: string, top = 30): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (node.callFrame.functionName === '(idle)') continue;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(dist|node:)/, '$1')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top);
  return `${total} busy samples\n${rows.map(([key, hits]) => `${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}`).join('\n')}`;
}

/** Inclusive time (self plus callees) per function, as a share of busy samples: where each entry point's time goes. */
export function inclusive(file: string, top = 30): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const keyOf = (n: ProfileNode): string => {
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${url.replace(/^.*\/(dist|node:)/, '$1')}:${lineNumber + 1}` : '';
    return `${functionName || '(anonymous)'} ${where}`;
  };
  const totals = new Map<string, number>();
  let busy = 0;
  const walk = (node: ProfileNode, onStack: Set<string>): number => {
    let sum = node.callFrame.functionName === '(idle)' ? 0 : (node.hitCount ?? 0);
    busy += sum;
    const key = keyOf(node);
    const seen = onStack.has(key);
    if (!seen) onStack.add(key);
    for (const child of node.children ?? []) sum += walk(byId.get(child)!, onStack);
    if (!seen) {
      onStack.delete(key);
      totals.set(key, (totals.get(key) ?? 0) + sum);
    }
    return sum;
  };
  walk(profile.nodes[0]!, new Set());
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows.map(([key, hits]) => `${((hits / busy) * 100).toFixed(1).padStart(5)}%  ${key}`).join('\n');
}

if (process.argv[1]?.endsWith('summary.ts')) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt === -1 ? 30 : Number(args.splice(topAt, 2)[1]);
  const tree = args.indexOf('--inclusive');
  if (tree !== -1) args.splice(tree, 1);
  for (const file of args)
    process.stdout.write(`== ${file}\n${tree === -1 ? summarize(file, top) : inclusive(file, top)}\n`);
}
