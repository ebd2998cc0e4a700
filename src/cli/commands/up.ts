// `nimbus up`: starts the gateway on one machine (SQLite inside) and deploys the examples when asked.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildFunction } from '../../build/build.js';
import {
  configFromEnv,
  loadPlatformConfig,
  type PlatformConfigInput,
  readConfigFile,
} from '../../config/platform.js';
import { tracesUrl } from '../../observability/tracing.js';
import { NimbusClient } from '../client.js';
import type { Command } from '../command.js';
import { startLocalGateway } from '../local-gateway.js';
import { note, printError, step } from '../output.js';
import { terminalText } from '../terminal-text.js';
import { uploadWithProgress } from './deploy.js';

/** Async events worth a line: a call given up on, a callback that could not be delivered, cron trouble. */
const ASYNC_EVENTS = new Set([
  'call-dead',
  'callback-failed',
  'cron-failed',
  'async-worker-error',
  'function-sync-failed',
  'cluster-record-invalid',
  'tracing-export-failed',
]);

export const upCommand: Command = {
  summary: 'start Nimbus on this machine',
  usage:
    'nimbus up [--host 127.0.0.1] [--port 8080] [--data .nimbus] [--config nimbus.config.yml] [--cluster nats://host:4222[,nats://...]] [--examples DIR] [--sandbox auto|required|off] [--debug] [--access-log]',
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    data: { type: 'string' },
    config: { type: 'string' },
    examples: { type: 'string' },
    cluster: { type: 'string' },
    sandbox: { type: 'string' },
    debug: { type: 'boolean' },
    'access-log': { type: 'boolean' },
  },
  async run(values) {
    const flags: PlatformConfigInput = {};
    if (values.host !== undefined) flags.host = values.host as string;
    if (values.port !== undefined) flags.port = Number(values.port);
    if (values.data !== undefined) flags.dataDir = values.data as string;
    if (values.examples !== undefined) flags.examplesDir = resolve(values.examples as string);
    if (values.cluster !== undefined) flags.cluster = values.cluster as string;
    if (values.sandbox !== undefined) flags.sandbox = values.sandbox as PlatformConfigInput['sandbox'];
    if (values.debug) flags.debug = true;
    if (values['access-log']) flags.accessLog = true;
    const file = values.config ? readConfigFile(values.config as string) : {};
    const config = loadPlatformConfig(file, configFromEnv(process.env), flags);

    const gateway = await step('starting Nimbus', (progress) =>
      startLocalGateway(config, {
        output: (fn, instanceId, line) =>
          process.stderr.write(`${fn}[${instanceId}] ${terminalText(line)}\n`),
        access: (line) => process.stderr.write(`${line}\n`),
        event: (event) => {
          if (event.type === 'topics') process.stdout.write(`${String(event.summary)}\n`);
          // A 500's answer names a reference and says the platform log has the details: here they are.
          if (event.type === 'internal-error')
            note(`nimbus: ${String(event.message)} on ${String(event.request)}\n${String(event.stack)}`);
          if (
            event.type === 'instance-start-failed' ||
            event.type === 'instance-exit' ||
            event.type === 'instance-oom' ||
            ASYNC_EVENTS.has(event.type)
          ) {
            note(`nimbus: ${terminalText(JSON.stringify(event))}`);
          }
        },
        phase: (what) => progress.phase(what),
      }),
    );
    const { platform } = gateway;
    process.stdout.write(`Nimbus listening on ${platform.url} (data: ${config.dataDir})\n`);
    process.stdout.write(`${platform.sandbox.summary}\n`);
    if (config.tracing.otlpEndpoint !== undefined)
      process.stdout.write(`tracing: spans to ${tracesUrl(config.tracing.otlpEndpoint)} (OTLP/HTTP, JSON)\n`);
    if (platform.cluster)
      process.stdout.write(
        `cluster: node ${platform.cluster.nodeId} on NATS ${config.cluster?.join(',')} (replicas ${config.clusterReplicas})\n`,
      );
    if (platform.tokenCreated) {
      process.stdout.write(
        `Admin token (stored in ${join(config.dataDir, 'admin-token')}, shown once): ${platform.token}\n`,
      );
    }

    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(
        `nimbus: ${signal}, finishing in-flight requests (up to ${config.shutdownGraceMs} ms)\n`,
      );
      void gateway.stop().then(() => {
        process.stdout.write('nimbus: stopped\n');
        process.exit(0);
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));

    if (config.examplesDir)
      await deployExamples(config.examplesDir, new NimbusClient(platform.url, platform.token), config.python);
    process.stdout.write('nimbus: ready\n');
    return new Promise<number>(() => {});
  },
};

async function deployExamples(dir: string, client: NimbusClient, python: string): Promise<void> {
  for (const name of readdirSync(dir).sort()) {
    const folder = join(dir, name);
    if (!statSync(folder).isDirectory()) continue;
    try {
      const built = await step(`building example ${name}`, () =>
        buildFunction(folder, { python, log: note }),
      );
      try {
        await uploadWithProgress(client, built);
        const fn = await client.deploy(built.name, built.hash, built.spec);
        process.stdout.write(`deployed ${fn.name} v${fn.version}: ${fn.url}\n`);
      } finally {
        rmSync(built.bundleDir, { recursive: true, force: true });
      }
    } catch (err) {
      printError(err, false);
    }
  }
}
