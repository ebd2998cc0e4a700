// The OpenAPI document of the gateway, served at /openapi.json.
import { ERRORS } from '../errors.js';
import { ASYNC_PATHS, ASYNC_SPEC_PROPERTIES, CALL_SCHEMA } from './openapi-async.js';

const error = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: error } },
});
const json = (schema: unknown, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' },
};
const fnRef = { $ref: '#/components/schemas/Function' };
const namespaceParam = {
  name: 'namespace',
  in: 'query',
  required: false,
  schema: { type: 'string', default: 'default' },
};
const secretRef = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    usedBy: { type: 'array', items: { type: 'string' } },
  },
};
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

export const OPENAPI = {
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
      FunctionSpec: {
        type: 'object',
        additionalProperties: false,
        properties: {
          runtime: { type: 'string', enum: ['node'], default: 'node' },
          handler: { type: 'string', description: 'index.ts, src/app.js or index.handler (file + export)' },
          environment: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
          timeoutMs: { type: 'integer', minimum: 1, maximum: 900000, default: 30000 },
          concurrency: {
            type: 'integer',
            minimum: 1,
            maximum: 1000,
            description:
              'Requests one instance serves at once. Default: 80 for Node fetch and OpenFaaS-style handlers, else 1.',
          },
          memoryMb: { type: 'integer', minimum: 32, maximum: 10240, default: 256 },
          network: { type: 'boolean', default: true, description: 'false: no network but its own loopback' },
          cpu: { type: 'number', minimum: 0.01, description: 'fraction of a core; default unlimited' },
          maxProcesses: { type: 'integer', minimum: 32, maximum: 32768, default: 64 },
          maxQueue: { type: 'integer', minimum: 0, default: 100 },
          private: { type: 'boolean', default: false },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          annotations: { type: 'object', additionalProperties: { type: 'string' } },
          handlerStyle: {
            type: 'string',
            enum: ['fetch', 'lambda', 'openfaas', 'openwhisk'],
            description: 'how the handler is called when its exports cannot tell (default: detected)',
          },
          scale: {
            type: 'object',
            additionalProperties: false,
            properties: {
              min: { type: 'integer', minimum: 0, default: 0 },
              max: { type: 'integer', minimum: 1, default: 10 },
              idleTimeoutMs: { type: 'integer', minimum: 100, default: 600000 },
            },
          },
          ...ASYNC_SPEC_PROPERTIES,
        },
      },
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
    '/api/v1/bundles/{sha256}': {
      head: {
        summary: 'Whether a bundle is uploaded',
        responses: { '200': { description: 'present' }, '404': { description: 'absent' } },
      },
      put: {
        summary: 'Upload a bundle: a gzipped tar of the bundle directory; the URL names its content hash',
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
        responses: {
          '200': json({ type: 'object', properties: { functions: { type: 'array', items: fnRef } } }),
        },
      },
    },
    '/api/v1/functions/{name}': {
      get: {
        summary: 'Describe a function',
        parameters: [nameParam],
        responses: { '200': json(fnRef), '404': errorResponse('ERR_FUNCTION_NOT_FOUND') },
      },
      put: {
        summary:
          'Deploy a function: a new version that must load before it takes traffic (identical content is a no-op)',
        parameters: [nameParam],
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['bundle'],
                properties: {
                  bundle: { type: 'string' },
                  spec: { $ref: '#/components/schemas/FunctionSpec' },
                  entry: { type: 'string' },
                },
              },
            },
          },
        },
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
        summary: 'Remove a function',
        parameters: [nameParam],
        responses: { '200': json({ type: 'object' }), '404': errorResponse('ERR_FUNCTION_NOT_FOUND') },
      },
    },
    // Access keys of the Lambda-compatible API (the compat APIs themselves are described in docs/compat.md).
    '/api/v1/keys': {
      post: {
        summary: 'Create an access key for the Lambda API; the secret is in this answer only',
        responses: {
          '201': json(
            {
              type: 'object',
              required: ['accessKeyId', 'secretAccessKey', 'createdAt'],
              properties: {
                accessKeyId: { type: 'string' },
                secretAccessKey: { type: 'string' },
                createdAt: { type: 'string', format: 'date-time' },
              },
            },
            'created',
          ),
        },
      },
      get: {
        summary: 'List access keys (ids only, never secrets)',
        responses: {
          '200': json({
            type: 'object',
            properties: {
              keys: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    accessKeyId: { type: 'string' },
                    createdAt: { type: 'string', format: 'date-time' },
                  },
                },
              },
            },
          }),
        },
      },
    },
    // The secrets store of a namespace (deploy scope there); values go in, never out.
    '/api/v1/secrets': {
      get: {
        summary: 'List the secrets of a namespace: names and the functions that use them, never values',
        parameters: [namespaceParam],
        responses: {
          '200': json({ type: 'object', properties: { secrets: { type: 'array', items: secretRef } } }),
        },
      },
      post: {
        summary: 'Create a secret',
        parameters: [namespaceParam],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name'],
                properties: {
                  name: { type: 'string' },
                  value: { type: 'string', description: 'the value as text' },
                  valueBase64: {
                    type: 'string',
                    description: 'the value as base64 bytes (instead of value)',
                  },
                },
              },
            },
          },
        },
        responses: {
          '201': json(secretRef, 'created'),
          '400': errorResponse('ERR_SECRET_INVALID or ERR_REQUEST_INVALID'),
          '409': errorResponse('ERR_SECRET_EXISTS'),
        },
      },
    },
    '/api/v1/secrets/{name}': {
      put: {
        summary: "Replace a secret's value (instances started from now on read it)",
        parameters: [
          { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
          namespaceParam,
        ],
        responses: { '200': json(secretRef), '404': errorResponse('ERR_SECRET_NOT_FOUND') },
      },
      delete: {
        summary: 'Remove a secret no function names',
        parameters: [
          { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
          namespaceParam,
        ],
        responses: {
          '200': json({ type: 'object' }),
          '404': errorResponse('ERR_SECRET_NOT_FOUND'),
          '409': errorResponse('ERR_SECRET_IN_USE'),
        },
      },
    },
    '/api/v1/keys/{id}': {
      delete: {
        summary: 'Remove an access key: requests signed with it are refused from now on',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': json({ type: 'object' }), '404': errorResponse('ERR_KEY_NOT_FOUND') },
      },
    },
  },
} as const;
