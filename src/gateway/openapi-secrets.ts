// The secrets store's paths in the OpenAPI document (docs/api.md): a namespace's secrets, deploy scope
// there; values go in, never out.
import { deleted, errorResponse, json, jsonBody, namespaceQuery, pathParam } from './openapi-parts.js';

const secretView = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    usedBy: { type: 'array', items: { type: 'string' } },
  },
};

const value = {
  value: { type: 'string', description: 'the value as text' },
  valueBase64: {
    type: 'string',
    description: 'the value as base64 bytes (instead of value), at most 512 KiB',
  },
};

export function secretPaths(): Record<string, unknown> {
  const nameParam = pathParam('name');
  return {
    '/api/v1/secrets': {
      get: {
        summary: 'List the secrets of a namespace: names and the functions that use them, never values',
        parameters: [namespaceQuery],
        responses: {
          '200': json({ type: 'object', properties: { secrets: { type: 'array', items: secretView } } }),
        },
      },
      post: {
        summary: 'Create a secret',
        parameters: [namespaceQuery],
        requestBody: jsonBody({
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, ...value },
        }),
        responses: {
          '201': json(secretView, 'created'),
          '400': errorResponse('ERR_SECRET_INVALID'),
          '409': errorResponse('ERR_SECRET_EXISTS'),
        },
      },
    },
    '/api/v1/secrets/{name}': {
      put: {
        summary: "Replace a secret's value (instances started from now on read it)",
        parameters: [nameParam, namespaceQuery],
        requestBody: jsonBody({ type: 'object', properties: value }),
        responses: { '200': json(secretView), '404': errorResponse('ERR_SECRET_NOT_FOUND') },
      },
      delete: {
        summary: 'Remove a secret no function names',
        parameters: [nameParam, namespaceQuery],
        responses: {
          '200': deleted,
          '404': errorResponse('ERR_SECRET_NOT_FOUND'),
          '409': errorResponse('ERR_SECRET_IN_USE'),
        },
      },
    },
  };
}
