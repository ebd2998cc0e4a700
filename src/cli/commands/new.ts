// `nimbus new NAME --lang ts|js|python|bash|lambda-custom`: scaffolds a function folder that deploys as generated.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertFunctionName } from '../../config/function-spec.js';
import { NimbusError } from '../../errors.js';
import type { Command } from '../command.js';
import { specFile, TEMPLATES } from '../templates.js';

export const newCommand: Command = {
  summary: 'scaffold a new function folder',
  usage: `nimbus new NAME [--lang ${Object.keys(TEMPLATES).join('|')}] [--dir functions]`,
  options: { lang: { type: 'string' }, dir: { type: 'string' } },
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw new NimbusError('ERR_CLI_USAGE', ['name the function: nimbus new hello --lang ts']);
    assertFunctionName(name);
    const lang = (values.lang as string | undefined) ?? 'ts';
    const template = TEMPLATES[lang];
    if (!template) {
      throw new NimbusError('ERR_CLI_USAGE', [
        `unknown --lang "${lang}"; choose one of ${Object.keys(TEMPLATES).join(', ')}`,
      ]);
    }
    const dir = join((values.dir as string | undefined) ?? 'functions', name);
    if (existsSync(dir))
      throw new NimbusError('ERR_CLI_USAGE', [`${dir} already exists; pick another name or remove it`]);
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries({ ...template.files, 'nimbus.yml': specFile(template) })) {
      writeFileSync(join(dir, file), text.replaceAll('{{name}}', name));
    }
    for (const file of template.executables ?? []) chmodSync(join(dir, file), 0o755);
    process.stdout.write(`created ${dir}: deploy it with \`nimbus deploy ${dir}\`\n`);
    return 0;
  },
};
