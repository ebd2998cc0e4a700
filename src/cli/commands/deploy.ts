// `nimbus deploy DIR`: bundles a function folder, uploads it (unless the gateway has it) and deploys it.
// `nimbus deploy -f stack.yml [NAME...]` does the same for every function of an OpenFaaS stack file.
import { rmSync } from 'node:fs';
import { type BuiltFunction, buildFunction } from '../../build/build.js';
import { buildStackFunction, readStack } from '../../build/stack.js';
import { assertFunctionName } from '../../config/function-spec.js';
import { NimbusError } from '../../errors.js';
import type { NimbusClient } from '../client.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { step } from '../output.js';

export const deployCommand: Command = {
  summary: 'bundle a function folder and deploy it',
  usage: 'nimbus deploy DIR [--name NAME] [--json] | nimbus deploy -f stack.yml [NAME...] [--json]',
  options: {
    ...CLIENT_OPTIONS,
    name: { type: 'string' },
    file: { type: 'string', short: 'f' },
    yaml: { type: 'string' },
  },
  async run(values, positionals) {
    const stackFile = (values.file ?? values.yaml) as string | undefined;
    if (stackFile) return deployStack(stackFile, positionals, values);
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

/** Builds, uploads and deploys each function of a stack file in turn; stops at the first failure. */
async function deployStack(file: string, only: string[], values: Record<string, unknown>): Promise<number> {
  const client = clientFrom(values);
  const functions = readStack(file, { only });
  const deployed = [];
  for (const fn of functions) {
    const built = await step(`bundling ${fn.name} (${fn.lang})`, () => buildStackFunction(fn));
    try {
      deployed.push(await upload(client, built));
    } finally {
      rmSync(built.bundleDir, { recursive: true, force: true });
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(deployed, null, 2)}\n`);
  else
    for (const fn of deployed)
      process.stdout.write(
        fn.changed
          ? `deployed ${fn.name} v${fn.version}: ${fn.url}\n`
          : `${fn.name} v${fn.version} is unchanged: ${fn.url}\n`,
      );
  return 0;
}

async function upload(client: NimbusClient, built: BuiltFunction) {
  assertFunctionName(built.name);
  await step(`uploading bundle ${built.hash.slice(0, 12)}`, () => client.uploadBundle(built));
  return step(`deploying ${built.name}`, () => client.deploy(built.name, built.hash, built.spec));
}
