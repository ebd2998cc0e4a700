// Run by `nimbus deploy` as a child process (node dist/runtimes/azure/discover.js APP_DIR) on the bundle it
// built: loads the Azure Functions app as an instance would and sends over IPC what it registered, or why it
// could not load. A child, so the app's code (its top level, what it leaves running) never runs in the CLI.
import { AzureAppError } from './app-files.js';
import { describeApp, loadApp, type Problems } from './load-app.js';

/** What the child sends; build/azure.ts validates it. */
export type DiscoveryMessage =
  | { ok: true; spec: unknown; problems: Problems }
  | { ok: false; kind: 'app' | 'load'; message: string; stack?: string };

function send(message: DiscoveryMessage): void {
  // The app may leave timers or servers running: the answer sent, the process ends.
  process.send!(message, () => process.exit(0));
}

const dir = process.argv[2];
if (!dir || !process.send) {
  process.stderr.write('usage: node discover.js APP_DIR (started by nimbus deploy, with an IPC channel)\n');
  process.exit(2);
}
try {
  const app = await loadApp(dir, (level, category, message) => {
    if (category === 'user' || level === 'warning' || level === 'error' || level === 'critical')
      process.stderr.write(`[${level}] ${message}\n`);
  });
  const { spec, problems } = describeApp(app, process.env);
  send({ ok: true, spec, problems });
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  send({
    ok: false,
    kind: err instanceof AzureAppError ? 'app' : 'load',
    message: e.message,
    ...(e.stack ? { stack: e.stack } : {}),
  });
}
