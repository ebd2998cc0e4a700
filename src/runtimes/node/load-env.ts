// The Node runner's process as a function finds it: its environment (the function's and the platform's
// variables, and Lambda's per-instance ones) and its working directory, the code (LAMBDA_TASK_ROOT).
import { randomBytes } from 'node:crypto';
import type { LoadMessage } from '../../instances/protocol.js';

/** Applies a LOAD message to this process, before the function's module is imported. */
export function loadEnvironment(message: Pick<LoadMessage, 'bundleDir' | 'entry' | 'env' | 'version'>): void {
  Object.assign(process.env, message.env);
  // Code reads files relative to the working directory as it would in Lambda's /var/task.
  process.chdir(message.bundleDir);
  process.env.LAMBDA_TASK_ROOT = message.bundleDir;
  // Lambda names a log stream per execution environment: per instance here.
  if (!message.env.AWS_LAMBDA_LOG_STREAM_NAME) {
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    process.env.AWS_LAMBDA_LOG_STREAM_NAME = `${day}/[${message.version}]${randomBytes(16).toString('hex')}`;
  }
  if (!message.env._HANDLER) {
    const exportName = message.entry.split('#')[1];
    process.env._HANDLER = `index.${exportName ?? 'handler'}`;
  }
}
