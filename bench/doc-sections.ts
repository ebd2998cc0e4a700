// Named sections of docs/benchmarks.md (`## Instance protocol`, `## Idle cost`, ...): a run replaces its
// own section and leaves every other one as it is. A section runs from its `## ` heading to the next
// `## ` heading or dated-run marker; sections that are not there yet are appended.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `section` must start with its own `## heading` line and hold no other `## ` line. */
export function replaceSection(text: string, section: string): string {
  const heading = section.split('\n', 1)[0]!;
  if (!heading.startsWith('## ')) throw new Error(`a section must start with "## ": ${heading}`);
  if (
    section
      .split('\n')
      .slice(1)
      .some((line) => line.startsWith('## '))
  )
    throw new Error(`the section "${heading}" holds another "## " heading`);
  const body = `${section.trim()}\n`;
  const start = text.search(new RegExp(`^${escapeRegExp(heading)}[ \\t]*$`, 'm'));
  if (start === -1) return `${text.trimEnd()}\n\n${body}`;
  const afterHeading = start + heading.length;
  const next = text.slice(afterHeading).search(/^(## |<!-- bench-run )/m);
  const end = next === -1 ? text.length : afterHeading + next;
  const rest = text.slice(end);
  return `${text.slice(0, start)}${body}${rest.length > 0 ? `\n${rest}` : ''}`;
}

export function writeSection(path: string, section: string): void {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  writeFileSync(path, replaceSection(text, section));
}
