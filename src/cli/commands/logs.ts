// `nimbus logs NAME`: what a function's instances wrote (the platform keeps recent lines in memory).
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { terminalText } from '../terminal-text.js';

interface LogLine {
  instance: string;
  timestamp: string;
  text: string;
}

export const logsCommand: Command = {
  summary: "show a function's log lines",
  usage: 'nimbus logs NAME [--tail N] [--since RFC3339] [--follow] [--json]',
  options: {
    ...CLIENT_OPTIONS,
    tail: { type: 'string' },
    since: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
  },
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw new NimbusError('ERR_CLI_USAGE', ['name the function: nimbus logs hello']);
    const tail = values.tail === undefined ? undefined : Number(values.tail);
    if (tail !== undefined && !Number.isInteger(tail))
      throw new NimbusError('ERR_CLI_USAGE', ['--tail takes a whole number of lines (-1: all)']);
    const res = await clientFrom(values).logs(name, {
      ...(tail !== undefined ? { tail } : {}),
      ...(typeof values.since === 'string' ? { since: values.since } : {}),
      follow: values.follow === true,
    });
    const decoder = new TextDecoder();
    let pending = '';
    const print = (line: string): void => {
      if (line === '') return;
      if (values.json) {
        process.stdout.write(`${line}\n`);
        return;
      }
      const entry = JSON.parse(line) as LogLine;
      process.stdout.write(
        `${entry.timestamp} ${terminalText(entry.instance)} ${terminalText(entry.text)}\n`,
      );
    };
    for await (const chunk of res.body ?? []) {
      pending += decoder.decode(chunk as Uint8Array, { stream: true });
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) print(line);
    }
    print(pending);
    return 0;
  },
};
