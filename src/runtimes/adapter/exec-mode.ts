// exec mode, as the OpenFaaS classic watchdog runs a function: one process per request, the request body
// on its stdin, its stdout as the response, the request as `Http_*` environment variables, and a
// non-zero exit as a failed call carrying its stderr.

import { withBundlePython } from './bundle-python.js';
import type { CreateMode } from './mode.js';
import {
  describeExit,
  type Program,
  programEnv,
  resolveProgram,
  startProgram,
  TailBuffer,
} from './program.js';
import type { AdapterStream } from './stream.js';

/** stderr kept for the error message of a failed run. */
const STDERR_TAIL_BYTES = 4096;

/** `x-forwarded-for` → `X_Forwarded_For` (Go's canonical header form, dashes as underscores). */
export function watchdogHeaderName(name: string): string {
  return name
    .split('-')
    .map((part) => (part ? part[0]!.toUpperCase() + part.slice(1).toLowerCase() : part))
    .join('_');
}

/** The `Http_*` variables the classic watchdog sets for a request (its `cgi_headers` mode, the default). */
export function watchdogEnv(fields: readonly string[], bodyLength: number): Record<string, string> {
  const env: Record<string, string> = {};
  // Go's server keeps the first value of a repeated header and leaves Host out of the header map.
  for (let i = fields.length - 2; i >= 2; i -= 2) {
    if (fields[i] === 'host') continue;
    env[`Http_${watchdogHeaderName(fields[i]!)}`] = fields[i + 1]!;
  }
  const target = fields[1]!;
  const q = target.indexOf('?');
  env.Http_Method = fields[0]!;
  env.Http_ContentLength = String(bodyLength);
  env.Http_Path = q === -1 ? target : target.slice(0, q);
  if (q !== -1 && q < target.length - 1) env.Http_Query = target.slice(q + 1);
  return env;
}

export const createExecMode: CreateMode = (load, options) => {
  let program: Program | undefined;
  const baseEnv = withBundlePython(programEnv(load.env), load.bundleDir);
  // As the watchdog: `content_type` in the function's environment sets the response's Content-Type.
  const contentType = load.env.content_type;

  function run(stream: AdapterStream, body: Buffer): void {
    if (!stream.open) return;
    const child = startProgram(program!, { ...baseEnv, ...watchdogEnv(stream.fields, body.length) }, [
      'pipe',
      'pipe',
      'pipe',
    ]);
    stream.onCancel = () => child.kill('SIGKILL');
    const out: Buffer[] = [];
    const errTail = new TailBuffer(STDERR_TAIL_BYTES);
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      errTail.push(chunk);
      process.stderr.write(chunk);
    });
    // A program may exit without reading its input.
    child.stdin!.on('error', () => {});
    child.stdin!.end(body);
    child.on('error', (err) => stream.fail(`could not start ${program!.display}: ${err.message}`));
    child.on('close', (code, signal) => {
      if (code === 0) {
        const type = contentType ?? stream.header('content-type');
        const data = Buffer.concat(out);
        stream.respond(200, type ? ['content-type', type] : [], data.length === 0);
        if (data.length > 0) stream.write(data, true);
        return;
      }
      const stderr = errTail.toString();
      stream.fail(`${program!.display} failed (${describeExit(code, signal)})${stderr ? `: ${stderr}` : ''}`);
    });
  }

  return {
    async start() {
      program = resolveProgram(options.argv, load.bundleDir, baseEnv.PATH ?? '');
    },
    request(stream) {
      void stream.wholeBody().then((body) => run(stream, body));
    },
  };
};
