// The team parts of the OpenAPI document: namespaces, access keys, a function's versions, rollback and
// aliases (merged into the document by openapi.ts). Request bodies come from the routes' zod schemas.
import { SCOPES } from '../auth/keys.js';
import { quotasSchema } from '../config/namespace.js';
import { keyCreateSchema } from './keys-api.js';
import { namespaceCreateSchema, namespaceUpdateSchema } from './namespaces-api.js';
import {
  deleted,
  errorResponse,
  inputSchema,
  json,
  jsonBody,
  nameParam,
  namespaceQuery,
  outputSchema,
  pathParam,
} from './openapi-parts.js';
import { ALIAS_NAME_RE, aliasSchema, rollbackSchema } from './versions-api.js';

const fnRef = { $ref: '#/components/schemas/Function' };
const aliasRef = { $ref: '#/components/schemas/Alias' };
const namespaceRef = { $ref: '#/components/schemas/Namespace' };
const keyRef = { $ref: '#/components/schemas/Key' };
const aliasParam = pathParam('alias', { type: 'string', pattern: ALIAS_NAME_RE.source });
const namespaceParam = pathParam('name', { type: 'string' });
const dateTime = { type: 'string', format: 'date-time' };

export function teamSchemas(): Record<string, unknown> {
  return {
    Namespace: {
      type: 'object',
      required: ['name', 'quotas', 'createdAt'],
      properties: {
        name: { type: 'string' },
        quotas: outputSchema(quotasSchema),
        createdAt: dateTime,
        usage: {
          type: 'object',
          description: 'what the namespace uses now (on GET of one namespace)',
          properties: {
            functions: { type: 'integer' },
            instances: { type: 'integer' },
            memoryMb: { type: 'integer' },
            rps: { type: 'number' },
          },
        },
      },
    },
    Key: {
      type: 'object',
      required: ['id', 'scope', 'namespace', 'functions', 'createdAt'],
      properties: {
        id: { type: 'string' },
        scope: { type: 'string', enum: SCOPES },
        namespace: { type: 'string', description: '`*`: every namespace (admin keys only)' },
        functions: {
          oneOf: [
            { type: 'string', const: '*' },
            { type: 'array', items: { type: 'string' } },
          ],
        },
        description: { type: 'string' },
        createdAt: dateTime,
      },
    },
    Alias: {
      type: 'object',
      required: ['name', 'version', 'weights', 'createdAt', 'updatedAt'],
      properties: {
        name: { type: 'string' },
        version: { type: 'integer' },
        weights: {
          type: 'object',
          description: 'version → percent of the alias calls it takes',
          additionalProperties: { type: 'number' },
        },
        description: { type: 'string' },
        createdAt: dateTime,
        updatedAt: dateTime,
      },
    },
  };
}

export function teamPaths(): Record<string, unknown> {
  return {
    '/api/v1/namespaces': {
      get: {
        summary: 'List the namespaces the credential sees',
        responses: {
          '200': json({ type: 'object', properties: { namespaces: { type: 'array', items: namespaceRef } } }),
        },
      },
      post: {
        summary: 'Create a namespace with its quotas (admin credentials of no namespace)',
        requestBody: jsonBody(inputSchema(namespaceCreateSchema)),
        responses: {
          '201': json(namespaceRef, 'created'),
          '400': errorResponse('ERR_REQUEST_INVALID or ERR_NAMESPACE_NAME_INVALID'),
          '409': errorResponse('ERR_NAMESPACE_EXISTS'),
        },
      },
    },
    '/api/v1/namespaces/{name}': {
      get: {
        summary: 'One namespace with its usage',
        parameters: [namespaceParam],
        responses: { '200': json(namespaceRef), '404': errorResponse('ERR_NAMESPACE_NOT_FOUND') },
      },
      put: {
        summary: 'Change quotas: a number sets one, null clears it, one left out stays',
        parameters: [namespaceParam],
        requestBody: jsonBody(inputSchema(namespaceUpdateSchema)),
        responses: {
          '200': json(namespaceRef),
          '400': errorResponse('ERR_REQUEST_INVALID'),
          '404': errorResponse('ERR_NAMESPACE_NOT_FOUND'),
        },
      },
      delete: {
        summary: 'Remove an empty namespace (never the default one)',
        parameters: [namespaceParam],
        responses: {
          '200': deleted,
          '404': errorResponse('ERR_NAMESPACE_NOT_FOUND'),
          '409': errorResponse('ERR_NAMESPACE_NOT_EMPTY or ERR_NAMESPACE_DEFAULT'),
        },
      },
    },
    '/api/v1/keys': {
      post: {
        summary: 'Create an access key; its secret is in this answer only',
        requestBody: jsonBody(inputSchema(keyCreateSchema)),
        responses: {
          '201': json(
            {
              allOf: [
                keyRef,
                { type: 'object', required: ['secret'], properties: { secret: { type: 'string' } } },
              ],
            },
            'created',
          ),
          '400': errorResponse('ERR_REQUEST_INVALID'),
          '403': errorResponse('ERR_AUTH_FORBIDDEN'),
          '404': errorResponse('ERR_NAMESPACE_NOT_FOUND'),
        },
      },
      get: {
        summary: 'List the keys the credential manages (never their secrets)',
        responses: {
          '200': json({ type: 'object', properties: { keys: { type: 'array', items: keyRef } } }),
        },
      },
    },
    '/api/v1/keys/{id}': {
      delete: {
        summary: 'Revoke a key: requests with it are refused from the next one on',
        parameters: [pathParam('id')],
        responses: { '200': deleted, '404': errorResponse('ERR_KEY_NOT_FOUND') },
      },
    },
    '/api/v1/functions/{name}/versions': {
      get: {
        summary: "A function's versions, newest first, with the aliases naming each",
        parameters: [nameParam, namespaceQuery],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              current: { type: 'integer' },
              versions: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    version: { type: 'integer' },
                    current: { type: 'boolean' },
                    bundle: { type: 'string' },
                    runtime: { type: 'string' },
                    createdAt: dateTime,
                    aliases: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
            },
          }),
          '404': errorResponse('ERR_FUNCTION_NOT_FOUND'),
        },
      },
    },
    '/api/v1/functions/{name}/rollback': {
      post: {
        summary: 'Make an older version current at once (default: the one before the current one)',
        parameters: [nameParam, namespaceQuery],
        requestBody: { content: { 'application/json': { schema: inputSchema(rollbackSchema) } } },
        responses: {
          '200': json(fnRef),
          '400': errorResponse('ERR_REQUEST_INVALID'),
          '404': errorResponse('ERR_FUNCTION_NOT_FOUND or ERR_VERSION_NOT_FOUND'),
        },
      },
    },
    '/api/v1/functions/{name}/aliases': {
      get: {
        summary: "A function's aliases",
        parameters: [nameParam, namespaceQuery],
        responses: {
          '200': json({ type: 'object', properties: { aliases: { type: 'array', items: aliasRef } } }),
          '404': errorResponse('ERR_FUNCTION_NOT_FOUND'),
        },
      },
    },
    '/api/v1/functions/{name}/aliases/{alias}': {
      get: {
        summary: 'One alias',
        parameters: [nameParam, aliasParam, namespaceQuery],
        responses: { '200': json(aliasRef), '404': errorResponse('ERR_ALIAS_NOT_FOUND') },
      },
      put: {
        summary:
          'Point an alias at a version, optionally sending a percentage of its calls to others (invoked at /function/{name}@{alias})',
        parameters: [nameParam, aliasParam, namespaceQuery],
        requestBody: jsonBody(inputSchema(aliasSchema)),
        responses: {
          '200': json(aliasRef, 'changed'),
          '201': json(aliasRef, 'created'),
          '400': errorResponse('ERR_REQUEST_INVALID or ERR_ALIAS_INVALID'),
          '404': errorResponse('ERR_FUNCTION_NOT_FOUND or ERR_VERSION_NOT_FOUND'),
        },
      },
      delete: {
        summary: 'Remove an alias',
        parameters: [nameParam, aliasParam, namespaceQuery],
        responses: { '200': deleted, '404': errorResponse('ERR_ALIAS_NOT_FOUND') },
      },
    },
  };
}
