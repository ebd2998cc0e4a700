// The `nimbus` command: dispatches to one file per command.
import { parseArgs } from 'node:util';
import { NimbusError } from '../errors.js';
import type { Command } from './command.js';
import { aliasCommand } from './commands/alias.js';
import { callsCommand } from './commands/calls.js';
import { deployCommand } from './commands/deploy.js';
import { describeCommand } from './commands/describe.js';
import { devCommand } from './commands/dev.js';
import { invokeCommand } from './commands/invoke.js';
import { keysCommand } from './commands/keys.js';
import { logsCommand } from './commands/logs.js';
import { lsCommand } from './commands/ls.js';
import { newCommand } from './commands/new.js';
import { nodesCommand } from './commands/nodes.js';
import { nsCommand } from './commands/ns.js';
import { publishCommand } from './commands/publish.js';
import { rmCommand } from './commands/rm.js';
import { secretCommand } from './commands/secret.js';
import { upCommand } from './commands/up.js';
import { rollbackCommand, versionsCommand } from './commands/versions.js';
import { printError } from './output.js';

const COMMANDS: Record<string, Command> = {
  up: upCommand,
  new: newCommand,
  deploy: deployCommand,
  dev: devCommand,
  invoke: invokeCommand,
  ls: lsCommand,
  describe: describeCommand,
  logs: logsCommand,
  rm: rmCommand,
  calls: callsCommand,
  keys: keysCommand,
  ns: nsCommand,
  versions: versionsCommand,
  rollback: rollbackCommand,
  alias: aliasCommand,
  secret: secretCommand,
  nodes: nodesCommand,
  publish: publishCommand,
};

function help(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`);
  return `nimbus: run functions on your own machines\n\nUsage: nimbus <command> [options]\n\n${lines.join('\n')}\n\nGlobal: --url URL --token TOKEN --data DIR (where to find the gateway), --namespace NS, --verbose, --help\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write('nimbus 0.1.0\n');
    return 0;
  }
  const command = COMMANDS[name];
  const verbose = rest.includes('--verbose');
  if (!command) {
    printError(new NimbusError('ERR_CLI_USAGE', [`unknown command "${name}"; run \`nimbus --help\``]), false);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.summary}\n\nUsage: ${command.usage}\n`);
    return 0;
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest.filter((a) => a !== '--verbose'),
      options: command.options,
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (err) {
    printError(
      new NimbusError('ERR_CLI_USAGE', [`${(err as Error).message}\nUsage: ${command.usage}`]),
      false,
    );
    return 2;
  }
  try {
    return await command.run(parsed.values, parsed.positionals);
  } catch (err) {
    printError(err, verbose);
    return 1;
  }
}
