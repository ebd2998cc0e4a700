// `nimbus deploy DIR`: bundles a function folder (installing its npm dependencies when missing or stale),
// uploads it (unless the gateway has it) and deploys it. `nimbus deploy -f FILE [NAME...]` does the same for
// every function of an OpenFaaS stack.yml, a Serverless Framework serverless.yml or an AWS SAM template.yaml.
import { rmSync } from 'node:fs';
import { type BuildOptions, type BuiltFunction, buildFunction } from '../../build/build.js';
import { readDeployFile } from '../../build/deploy-file.js';
import { buildStackFunction } from '../../build/stack.js';
import { assertFunctionName } from '../../config/function-spec.js';
import { NimbusError } from '../../errors.js';
import type { NimbusClient } from '../client.js';
import { CLIENT_OPTIONS, type Command } from '../command.js';
import { clientFrom } from '../context.js';
import { formatBytes, note, step } from '../output.js';

export const deployCommand: Command = {
  summary: 'bundle a function folder and deploy it',
  usage:
    'nimbus deploy DIR [--name NAME] [--json] | nimbus deploy -f stack.yml|serverless.yml|template.yaml [NAME...] [--json]',
  options: {
    ...CLIENT_OPTIONS,
    name: { type: 'string' },
    file: { type: 'string', short: 'f' },
    yaml: { type: 'string' },
  },
  async run(values, positionals) {
    const stackFile = (values.file ?? values.yaml) as string | undefined;
    if (stackFile) return deployFile(stackFile, positionals, values);
    const dir = positionals[0];
    if (!dir)
      throw new NimbusError('ERR_CLI_USAGE', ['name the function folder: nimbus deploy functions/hello']);
    const client = clientFrom(values);
    const built = await step(`bundling ${dir}`, () =>
      buildFunction(dir, { ...buildOptions(), ...(values.name ? { name: values.name as string } : {}) }),
    );
    try {
      const fn = await upload(client, built);
      if (values.json) process.stdout.write(`${JSON.stringify(fn, null, 2)}\n`);
      else if (fn.changed) process.stdout.write(`deployed ${fn.name} v${fn.version}: ${fn.url}\n`);
      else process.stdout.write(`${fn.name} v${fn.version} is unchanged: ${fn.url}\n`);
      return 0;
    } finally {
      rmSync(built.bundleDir, { recursive: true, force: true });
    }
  },
};

/** Progress on stderr; pip runs with the interpreter the instances run (NIMBUS_PYTHON, as `nimbus up` reads it). */
export function buildOptions(): BuildOptions {
  const python = process.env.NIMBUS_PYTHON;
  return { log: progress, ...(python ? { python } : {}) };
}

/** A progress line of the build (npm's and pip's output among them), clear of a spinner's line. */
function progress(line: string): void {
  note(line);
}

/** Uploads a bundle (unless the gateway has it) as a step that shows the bytes sent; returns them. */
export function uploadWithProgress(client: NimbusClient, built: BuiltFunction): Promise<number> {
  return step(`uploading bundle ${built.hash.slice(0, 12)}`, async (progress) => {
    const bytes = await client.uploadBundle(built, (sent) => progress.update(formatBytes(sent)));
    progress.result(bytes === 0 ? 'the gateway has it already' : formatBytes(bytes));
    return bytes;
  });
}

/**
 * Builds, uploads and deploys each function of a deploy file in turn; stops at the first failure. Entries
 * Nimbus cannot build (a Dockerfile, a container image, a runtime it lacks) are skipped with a warning.
 */
async function deployFile(file: string, only: string[], values: Record<string, unknown>): Promise<number> {
  const client = clientFrom(values);
  const { functions } = readDeployFile(file, { only, warn: (message) => progress(`warning: ${message}`) });
  const deployed = [];
  for (const fn of functions) {
    const built = await step(`bundling ${fn.name} (${fn.lang})`, () =>
      buildStackFunction(fn, buildOptions()),
    );
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
  await uploadWithProgress(client, built);
  return step(`deploying ${built.name}`, () => client.deploy(built.name, built.hash, built.spec));
}
