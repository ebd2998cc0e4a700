// `nimbus deploy DIR`: bundles a function folder, uploads it (unless the gateway has it) and deploys it.
import { rmSync } from 'node:fs';
import { buildFunction } from '../../build/build.js';
import { assertFunctionName } from '../../config/function-spec.js';
import { NimbusError } from '../../errors.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { step } from '../output.js';

export const deployCommand: Command = {
  summary: 'bundle a function folder and deploy it',
  usage: 'nimbus deploy DIR [--name NAME] [--json]',
  options: { ...CLIENT_OPTIONS, name: { type: 'string' } },
  async run(values, positionals) {
    const dir = positionals[0];
    if (!dir)
      throw new NimbusError('ERR_CLI_USAGE', ['name the function folder: nimbus deploy functions/hello']);
    const client = clientFrom(values);
    const built = await step(`bundling ${dir}`, () =>
      buildFunction(dir, values.name ? { name: values.name as string } : {}),
    );
    try {
      assertFunctionName(built.name);
      await step(`uploading bundle ${built.hash.slice(0, 12)}`, () => client.uploadBundle(built));
      const fn = await step(`deploying ${built.name}`, () =>
        client.deploy(built.name, built.hash, built.spec),
      );
      if (values.json) process.stdout.write(`${JSON.stringify(fn, null, 2)}\n`);
      else if (fn.changed) process.stdout.write(`deployed ${fn.name} v${fn.version}: ${fn.url}\n`);
      else process.stdout.write(`${fn.name} v${fn.version} is unchanged: ${fn.url}\n`);
      return 0;
    } finally {
      rmSync(built.bundleDir, { recursive: true, force: true });
    }
  },
};
