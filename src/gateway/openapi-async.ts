// The async parts of the OpenAPI document: /async-function, /system/calls and the Call schema (merged into
// the document by openapi.ts; the async and cron keys of a spec come with the spec's zod schema).
import { CALL_STATUSES } from '../queue/calls.js';

const errorRef = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorRef } },
});
const json = (schema: unknown, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const callRef = { $ref: '#/components/schemas/Call' };
const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' },
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'options'];

const enqueueOp = {
  summary:
    'Queue a call: answered 202 with X-Call-Id once it is durably written; run by the workers with retries',
  security: [],
  parameters: [
    nameParam,
    {
      name: 'X-Callback-Url',
      in: 'header',
      required: false,
      description: 'http(s) URL the result is POSTed to (with X-Call-Id, X-Function-Name, X-Function-Status)',
      schema: { type: 'string', format: 'uri' },
    },
  ],
  responses: {
    '202': {
      description: 'queued; the body is {"callId"} and X-Call-Id carries the id',
      headers: { 'X-Call-Id': { schema: { type: 'string' } } },
      content: {
        'application/json': { schema: { type: 'object', properties: { callId: { type: 'string' } } } },
      },
    },
    '400': errorResponse('ERR_FUNCTION_NAME_INVALID or ERR_ASYNC_CALLBACK_URL_INVALID'),
    '401': errorResponse('ERR_FUNCTION_PRIVATE'),
    '404': errorResponse('ERR_FUNCTION_NOT_FOUND'),
    '413': errorResponse('ERR_REQUEST_BODY_TOO_LARGE (asyncBodyLimitBytes, default 1 MiB)'),
    '503': errorResponse('ERR_ASYNC_ENQUEUE_FAILED or ERR_PLATFORM_SHUTTING_DOWN'),
  },
};

export const CALL_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    function: { type: 'string' },
    source: { type: 'string', enum: ['http', 'cron'] },
    status: { type: 'string', enum: CALL_STATUSES },
    attempts: { type: 'integer', description: 'deliveries to the function' },
    errors: { type: 'integer', description: 'attempts that failed with a function error' },
    redrives: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    nextAttemptAt: { type: 'string', format: 'date-time' },
    durationMs: { type: 'number', description: 'of the last attempt' },
    callback: {
      type: 'object',
      properties: {
        url: { type: 'string' },
        state: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
        attempts: { type: 'integer' },
        error: { type: 'string' },
      },
    },
    response: {
      type: 'object',
      description: "the last attempt's response; lists leave the body out",
      properties: {
        status: { type: 'integer' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        body: { type: 'string', description: 'when the stored bytes are UTF-8' },
        bodyBase64: { type: 'string', description: 'otherwise' },
        bodyBytes: { type: 'integer', description: 'size of the whole body' },
        truncated: { type: 'boolean', description: 'past callResponseLimitBytes (default 64 KiB)' },
      },
    },
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
};

export const ASYNC_PATHS = {
  '/async-function/{name}': Object.fromEntries(METHODS.map((m) => [m, enqueueOp])),
  '/async-function/{name}/{path}': Object.fromEntries(
    METHODS.map((m) => [
      m,
      {
        ...enqueueOp,
        parameters: [
          ...enqueueOp.parameters,
          { name: 'path', in: 'path', required: true, schema: { type: 'string' } },
        ],
      },
    ]),
  ),
  '/system/calls': {
    get: {
      summary: 'List calls, newest first, with counts per status',
      parameters: [
        { name: 'function', in: 'query', schema: { type: 'string' } },
        { name: 'status', in: 'query', schema: { type: 'string', enum: CALL_STATUSES } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 1000, default: 50 } },
        {
          name: 'before',
          in: 'query',
          description: 'a call id: the page after it',
          schema: { type: 'string' },
        },
      ],
      responses: {
        '200': json({
          type: 'object',
          properties: {
            calls: { type: 'array', items: callRef },
            counts: { type: 'object', additionalProperties: { type: 'integer' } },
          },
        }),
        '400': errorResponse('ERR_REQUEST_INVALID'),
      },
    },
  },
  '/system/calls/redrive': {
    post: {
      summary: 'Redrive every dead call (of one function)',
      parameters: [{ name: 'function', in: 'query', schema: { type: 'string' } }],
      responses: { '200': json({ type: 'object', properties: { redriven: { type: 'integer' } } }) },
    },
  },
  '/system/calls/{id}': {
    get: {
      summary: 'One call: status, attempts, times and the stored response',
      parameters: [idParam],
      responses: { '200': json(callRef), '404': errorResponse('ERR_CALL_NOT_FOUND') },
    },
  },
  '/system/calls/{id}/redrive': {
    post: {
      summary: 'Queue a dead call again (same id; attempts start over)',
      parameters: [idParam],
      responses: {
        '200': json(callRef),
        '404': errorResponse('ERR_CALL_NOT_FOUND'),
        '409': errorResponse('ERR_CALL_NOT_DEAD'),
      },
    },
  },
};
