// The Node.js runner: one per instance process. It connects to the gateway's socket, loads one function
// once, picks its handler style from the module's exports (or loads an Azure Functions app), and serves many
// requests over the instance protocol (gateway-link.ts keeps each request's stream and credit).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LoadMessage } from '../../instances/protocol.js';
import type { AzureApp } from '../azure/azure-style.js';
import { linkToGateway, type RunnerStream } from '../gateway-link.js';
import { fetchStyle, lambdaStyle, openfaasStyle, writeAnswer } from './builtin-styles.js';
import { failWith, type HandlerStyle } from './handler-style.js';
import { installAwsLambdaGlobal } from './lambda-streaming.js';
import { installLightWeb, warmWebClasses } from './light-web.js';
import { loadEnvironment } from './load-env.js';
import { openwhiskStyle } from './openwhisk-style.js';
import { pickStyle } from './pick-handler.js';

/** Tried in order when the spec names no style; a style the spec names is used as it is. */
const STYLES: readonly HandlerStyle[] = [fetchStyle, lambdaStyle, openfaasStyle, openwhiskStyle];

/**
 * The Azure Functions style's own bundle (scripts/build.mjs), beside this one: imported for Azure apps only.
 * Beside it on the host and in a sandbox alike (sandboxBinds binds both files flat in one directory).
 */
const AZURE_STYLE_URL = new URL('./azure-style.bundle.mjs', import.meta.url).href;

/** An Azure Functions app: loaded from its own files (package.json `main`), not from a bundle entry. */
const azureStyle: HandlerStyle = {
  name: 'azure',
  pick() {
    return undefined;
  },
  handle(handler, stream) {
    if (stream.raw) {
      stream.fail('an Azure Functions app takes HTTP requests, queue messages and timers, not raw events');
      return;
    }
    void stream.wholeBody().then(async (body) => {
      try {
        const answer = await (handler as AzureApp).handle(stream.fields, body);
        if (stream.open) writeAnswer(stream, answer);
      } catch (err) {
        const code =
          (err as { code?: unknown } | null)?.code === 'invalid_response' ? 'invalid_response' : undefined;
        failWith(stream, err, code);
      }
    });
  },
};

let loaded: { style: HandlerStyle; handler: unknown; load: LoadMessage } | undefined;

installAwsLambdaGlobal();

linkToGateway<LoadMessage>('node', {
  load,
  request(stream: RunnerStream) {
    if (loaded) loaded.style.handle(loaded.handler, stream, loaded.load);
    else stream.fail('no function is loaded in this instance');
  },
  connected: () => {
    installLightWeb();
    warmWebClasses();
  },
});

async function load(message: LoadMessage): Promise<string> {
  loadEnvironment(message);
  if (message.style === 'azure') {
    const azure = (await import(AZURE_STYLE_URL)) as typeof import('../azure/azure-style.js');
    loaded = {
      style: azureStyle,
      handler: await azure.AzureApp.load(message.bundleDir, message.name),
      load: message,
    };
    return azureStyle.name;
  }
  const [file, exportName] = message.entry.split('#') as [string, string | undefined];
  const mod = (await import(pathToFileURL(join(message.bundleDir, file)).href)) as Record<string, unknown>;
  const { style, handler } = pickStyle(STYLES, mod, exportName, message.style);
  loaded = { style, handler, load: message };
  return style.name;
}
