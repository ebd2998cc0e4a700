// The OpenAPI document of the gateway, served at /openapi.json. Request bodies and the function spec come
// from the zod schemas the routes parse with; test/integration/openapi.test.ts fails when a control route
// (compat APIs aside: docs/compat.md) is missing here or a path here has no route.
import { functionSpecSchema } from '../config/function-spec.js';
import { ERRORS } from '../errors.js';
import { ASYNC_PATHS, CALL_SCHEMA } from './openapi-async.js';
import { clusterPaths } from './openapi-cluster.js';
import { dashboardPaths } from './openapi-dashboard.js';
import {
  deleted,
  errorResponse,
  inputSchema,
  json,
  jsonBody,
  nameParam,
  namespaceQuery,
  pathParam,
} from './openapi-parts.js';
import { secretPaths } from './openapi-secrets.js';
import { teamPaths, teamSchemas } from './openapi-teams.js';

const fnRef = { $ref: '#/components/schemas/Function' };
const invokeOp = {
  summary: 'Invoke a function synchronously; method, path suffix, query, headers and body pass through',
  security: [],
  parameters: [nameParam],
  responses: {
    default: { description: "The function's own response; carries X-Call-Id" },
    '400': errorResponse('ERR_FUNCTION_NAME_INVALID'),
    '404': errorResponse('ERR_FUNCTION_NOT_FOUND'),
    '413': errorResponse('ERR_REQUEST_BODY_TOO_LARGE'),
    '429': errorResponse('ERR_QUEUE_FULL (with Retry-After)'),
    '500': errorResponse('ERR_HANDLER_FAILED'),
    '502': errorResponse('ERR_INSTANCE_CRASHED or ERR_FUNCTION_UNAVAILABLE'),
    '504': errorResponse('ERR_HANDLER_TIMEOUT'),
  },
};

const hashParam = pathParam('hash', {
  type: 'string',
  pattern: '^[0-9a-f]{64}$',
  description: 'sha256 of the bundle (src/build/bundle-hash.ts)',
});

/** What the zod schema cannot say: the meaning of some keys (docs/functions.md has the rest). */
const SPEC_DESCRIPTIONS: Record<string, string> = {
  runtime: 'docs/runtimes.md',
  handler: 'node: index.ts, src/app.js or index.handler (file + export); python: module.function',
  concurrency:
    'Requests one instance serves at once. Default: 80 for Node fetch and OpenFaaS-style handlers, else 1.',
  network: 'false: no network but its own loopback',
  cpu: 'fraction of a core; default unlimited',
  handlerStyle: 'how the handler is called when its exports cannot tell (default: detected)',
  schedule: 'cron expression (5 fields, 6 with seconds, or @hourly ...)',
  timezone: 'IANA time zone of the schedule',
  payload: 'body of scheduled calls: a string (text/plain) or any JSON value',
  topics: 'NATS subjects whose messages invoke the function (docs/cluster.md)',
};

/** A function's spec as deploys send it: the zod schema's input, with the descriptions above. */
function functionSpecJsonSchema(): Record<string, unknown> {
  const schema = inputSchema(functionSpecSchema) as { properties: Record<string, Record<string, unknown>> };
  for (const [key, description] of Object.entries(SPEC_DESCRIPTIONS)) {
    const property = schema.properties[key];
    if (!property) throw new Error(`the function spec has no key "${key}" to describe`);
    property.description = description;
  }
  return schema;
}

let built: Record<string, unknown> | undefined;

/** The document, built on first use (its parts import the route modules, which import the control API). */
export function openApiDocument(): Record<string, unknown> {
  built ??= buildDocument();
  return built;
}

function buildDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Nimbus gateway',
      version: '1',
      description: 'Invoke functions and manage them. See docs/api.md.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', enum: Object.keys(ERRORS) },
                message: { type: 'string' },
                stack: { type: 'string' },
              },
            },
          },
        },
        FunctionSpec: functionSpecJsonSchema(),
        Function: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            version: { type: 'integer' },
            runtime: { type: 'string' },
            bundle: { type: 'string', description: 'sha256 of the bundle' },
            entry: { type: 'string' },
            url: { type: 'string' },
            spec: { $ref: '#/components/schemas/FunctionSpec' },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            invocations: { type: 'integer' },
            errors: { type: 'integer' },
            instances: { type: 'integer' },
            starting: { type: 'integer' },
            inflight: { type: 'integer' },
            queued: { type: 'integer' },
            status: { type: 'string', enum: ['ready', 'unhealthy'] },
            lastError: { type: 'string' },
            nextRun: { type: 'string', format: 'date-time', description: 'next cron run, when scheduled' },
          },
        },
        Call: CALL_SCHEMA,
        ...teamSchemas(),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/healthz': {
        get: { summary: 'Liveness', security: [], responses: { '200': json({ type: 'object' }) } },
      },
      '/openapi.json': {
        get: { summary: 'This document', security: [], responses: { '200': json({ type: 'object' }) } },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (text format 0.0.4): calls by function and status, latency, instances',
          responses: {
            '200': {
              description: 'The metrics',
              content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } },
            },
          },
        },
      },
      '/function/{name}': Object.fromEntries(
        ['get', 'post', 'put', 'patch', 'delete', 'options'].map((m) => [m, invokeOp]),
      ),
      '/function/{name}/{path}': Object.fromEntries(
        ['get', 'post', 'put', 'patch', 'delete', 'options'].map((m) => [
          m,
          {
            ...invokeOp,
            parameters: [nameParam, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
          },
        ]),
      ),
      ...ASYNC_PATHS,
      '/api/v1/bundles/{hash}': {
        head: {
          summary: 'Whether a bundle is uploaded',
          parameters: [hashParam],
          responses: { '200': { description: 'present' }, '404': { description: 'absent' } },
        },
        put: {
          summary: 'Upload a bundle: a gzipped tar of the bundle directory; the URL names its content hash',
          parameters: [hashParam],
          requestBody: { content: { 'application/gzip': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            '200': json({ type: 'object' }, 'already present'),
            '201': json({ type: 'object' }, 'stored'),
            '400': errorResponse('ERR_BUNDLE_INVALID or ERR_BUNDLE_HASH_MISMATCH'),
            '413': errorResponse('ERR_REQUEST_BODY_TOO_LARGE'),
          },
        },
      },
      '/api/v1/functions': {
        get: {
          summary: 'List functions',
          parameters: [
            {
              ...namespaceQuery,
              description: 'the namespace listed (default: the default one; *: every one seen)',
            },
          ],
          responses: {
            '200': json({ type: 'object', properties: { functions: { type: 'array', items: fnRef } } }),
          },
        },
      },
      '/api/v1/functions/{name}': {
        get: {
          summary: 'Describe a function',
          parameters: [nameParam, namespaceQuery],
          responses: { '200': json(fnRef), '404': errorResponse('ERR_FUNCTION_NOT_FOUND') },
        },
        put: {
          summary:
            'Deploy a function: a new version that must load before it takes traffic (identical content is a no-op)',
          parameters: [nameParam, namespaceQuery],
          requestBody: jsonBody({
            type: 'object',
            required: ['bundle'],
            properties: {
              bundle: { type: 'string', description: 'sha256 of an uploaded bundle' },
              spec: { $ref: '#/components/schemas/FunctionSpec' },
              entry: { type: 'string', description: 'index.mjs#export: the built entry and its export' },
            },
          }),
          responses: {
            '200': json(fnRef, 'unchanged'),
            '201': json(fnRef, 'new version deployed'),
            '400': errorResponse(
              'ERR_FUNCTION_SPEC_INVALID, ERR_FUNCTION_NAME_INVALID or ERR_FUNCTION_LOAD_FAILED',
            ),
            '404': errorResponse('ERR_BUNDLE_NOT_FOUND'),
          },
        },
        delete: {
          summary: 'Remove a function: its instances finish what they are doing, then stop',
          parameters: [nameParam, namespaceQuery],
          responses: { '200': deleted, '404': errorResponse('ERR_FUNCTION_NOT_FOUND') },
        },
      },
      ...teamPaths(),
      ...clusterPaths(),
      ...secretPaths(),
      ...dashboardPaths(),
    },
  };
}
