// Rewrites the table of docs/errors.md from src/errors.ts (code, status, message), keeping the prose around it.
// Run after adding or changing an error: `node --import tsx scripts/sync-errors-doc.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';
import { ERRORS } from '../src/errors.ts';

const path = new URL('../docs/errors.md', import.meta.url);
const doc = readFileSync(path, 'utf8');
const lines = doc.split('\n');
const first = lines.findIndex((l) => l.startsWith('| code |'));
let end = first + 2;
while (end < lines.length && lines[end].startsWith('| `ERR_')) end++;
const rows = Object.entries(ERRORS).map(
  ([code, e]) => `| \`${code}\` | ${e.status} | ${e.message.replaceAll('|', '\\|')} |`,
);
writeFileSync(path, [...lines.slice(0, first + 2), ...rows, ...lines.slice(end)].join('\n'));
