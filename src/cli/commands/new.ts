// `nimbus new NAME --lang ts|js`: scaffolds a function folder that deploys as generated.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertFunctionName } from '../../config/function-spec.js';
import { NimbusError } from '../../errors.js';
import type { Command } from '../command.js';

const TEMPLATES: Record<string, Record<string, string>> = {
  ts: {
    'index.ts': `// A Nimbus function: a Web-standard fetch handler. Deploy with \`nimbus deploy functions/{{name}}\`.
export default {
  async fetch(request: Request): Promise<Response> {
    const body = await request.text();
    return Response.json({ hello: body || 'world', path: new URL(request.url).pathname });
  },
};
`,
  },
  js: {
    'index.js': `// A Nimbus function: a Web-standard fetch handler. Deploy with \`nimbus deploy functions/{{name}}\`.
export default {
  async fetch(request) {
    const body = await request.text();
    return Response.json({ hello: body || 'world', path: new URL(request.url).pathname });
  },
};
`,
  },
};

const SPEC = `# Function spec: see docs/functions.md
name: {{name}}
runtime: node
timeoutMs: 30000
concurrency: 1
memoryMb: 256
scale:
  min: 0
  max: 10
`;

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
    for (const [file, text] of Object.entries({ ...template, 'nimbus.yml': SPEC })) {
      writeFileSync(join(dir, file), text.replaceAll('{{name}}', name));
    }
    process.stdout.write(`created ${dir}: deploy it with \`nimbus deploy ${dir}\`\n`);
    return 0;
  },
};
