// The function templates of `nimbus new`: one per language, each deployable as generated.

export interface Template {
  /** File name → contents; `{{name}}` becomes the function name. */
  files: Readonly<Record<string, string>>;
  /** Files written with the exec bit. */
  executables?: readonly string[];
  /** The runtime lines of nimbus.yml (`runtime:` and what that runtime needs). */
  spec: string;
}

const FETCH_HANDLER = `export default {
  async fetch(request) {
    const body = await request.text();
    return Response.json({ hello: body || 'world', path: new URL(request.url).pathname });
  },
};
`;

const LAMBDA_BOOTSTRAP = `#!/usr/bin/env node
// A Lambda custom runtime (like provided.al2). Nimbus starts this bootstrap with AWS_LAMBDA_RUNTIME_API,
// _HANDLER ("file.export") and LAMBDA_TASK_ROOT set; it loads the handler, then loops: take the next event
// from the Runtime API, run the handler, post its result or its error. A bootstrap in any language works
// the same way, and the official runtime interface clients (npm aws-lambda-ric, pip awslambdaric) can
// take this file's place. With concurrency above 1, AWS_LAMBDA_MAX_CONCURRENCY loops poll at once.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const base = \`http://\${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime\`;

function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(\`\${base}\${path}\`, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function errorBody(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return JSON.stringify({ errorType: e.name, errorMessage: e.message, stackTrace: String(e.stack).split('\\n') });
}

async function loadHandler() {
  const [file, name] = process.env._HANDLER.split('.');
  const path = ['.mjs', '.js'].map((ext) => join(process.env.LAMBDA_TASK_ROOT, file + ext)).find(existsSync);
  if (!path) throw new Error(\`no \${file}.mjs or \${file}.js for handler \${process.env._HANDLER}\`);
  const handler = (await import(pathToFileURL(path).href))[name];
  if (typeof handler !== 'function') throw new Error(\`\${file} exports no function \${name}\`);
  return handler;
}

async function loop(handler) {
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    const context = {
      awsRequestId: id,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    try {
      const result = await handler(JSON.parse(next.body), context);
      await call('POST', \`/invocation/\${id}/response\`, JSON.stringify(result ?? null));
    } catch (err) {
      await call('POST', \`/invocation/\${id}/error\`, errorBody(err), {
        'lambda-runtime-function-error-type': 'Function.Error',
      });
    }
  }
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  await call('POST', '/init/error', errorBody(err), { 'lambda-runtime-function-error-type': 'Runtime.InitError' });
  process.exit(1);
}
const loops = Math.max(1, Number(process.env.AWS_LAMBDA_MAX_CONCURRENCY ?? 1));
for (let i = 0; i < loops; i++) void loop(handler);
`;

export const TEMPLATES: Readonly<Record<string, Template>> = {
  ts: {
    files: {
      'index.ts': `// A Nimbus function: a Web-standard fetch handler. Deploy with \`nimbus deploy functions/{{name}}\`.
export default {
  async fetch(request: Request): Promise<Response> {
    const body = await request.text();
    return Response.json({ hello: body || 'world', path: new URL(request.url).pathname });
  },
};
`,
    },
    spec: 'runtime: node\n',
  },
  js: {
    files: {
      'index.js': `// A Nimbus function: a Web-standard fetch handler. Deploy with \`nimbus deploy functions/{{name}}\`.\n${FETCH_HANDLER}`,
    },
    spec: 'runtime: node\n',
  },
  python: {
    files: {
      'handler.py': `# A Nimbus function in Python (the OpenFaaS python3-http style). Deploy with \`nimbus deploy functions/{{name}}\`.
# event has .body (bytes), .headers, .method, .query and .path; return statusCode, body and headers.
# A Lambda-style \`def handler(event, context)\` works too (set handler: handler.handler in nimbus.yml).
# Packages listed in a requirements.txt beside this file are installed into the bundle at deploy.


def handle(event, context):
    body = event.body.decode("utf-8") if event.body else "world"
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": {"hello": body, "path": event.path},
    }
`,
    },
    spec: 'runtime: python\nhandler: handler.handle\n',
  },
  bash: {
    files: {
      'handler.sh': `#!/bin/sh
# A Nimbus function as a shell script (runtime: exec, the OpenFaaS classic watchdog's contract). The request
# body arrives on stdin, the request as Http_* variables (Http_Method, Http_Path, Http_Query,
# Http_Content_Type, ...), and what the script prints is the response. A non-zero exit answers 500 with
# what the script wrote to stderr. Deploy with \`nimbus deploy functions/{{name}}\`.
body=$(cat)
printf '{"hello":"%s","method":"%s","path":"%s"}\\n' "\${body:-world}" "$Http_Method" "$Http_Path"
`,
    },
    executables: ['handler.sh'],
    spec: 'runtime: exec\ncommand: ./handler.sh\nenvironment:\n  content_type: application/json\n',
  },
  'lambda-custom': {
    files: {
      bootstrap: LAMBDA_BOOTSTRAP,
      'index.mjs': `// A Lambda handler run by the custom runtime in ./bootstrap. HTTP requests arrive as function-URL payload
// 2.0 events; the result maps back to the HTTP response. Deploy with \`nimbus deploy functions/{{name}}\`.
export const handler = async (event, context) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ hello: event.body ?? 'world', path: event.rawPath, requestId: context.awsRequestId }),
});
`,
    },
    executables: ['bootstrap'],
    spec: 'runtime: lambda\nhandler: index.handler\n',
  },
};

/** nimbus.yml of a new function. */
export function specFile(template: Template): string {
  return `# Function spec: see docs/functions.md and docs/runtimes.md
name: {{name}}
${template.spec}timeoutMs: 30000
concurrency: 1
memoryMb: 256
scale:
  min: 0
  max: 10
`;
}
