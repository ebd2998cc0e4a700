// The dashboard's paths in the OpenAPI document (docs/ui.md): its files under /ui, what a credential is
// (/api/v1/whoami) and the call activity its charts read (merged by openapi.ts).
import { BUCKET_MS, BUCKETS, RECENT_CALLS } from '../metrics/activity.js';
import { DEFAULT_SUMMARY_SECONDS } from '../metrics/activity-routes.js';
import { errorResponse, json, nameParam, namespaceQuery, pathParam } from './openapi-parts.js';

const BUCKET_SECONDS = BUCKET_MS / 1000;
const WINDOW_MINUTES = (BUCKETS * BUCKET_MS) / 60_000;

const file = (description: string) => ({
  description,
  content: { 'text/html; charset=utf-8': { schema: { type: 'string' } } },
});

const series = {
  type: 'object',
  description: `one value per ${BUCKET_SECONDS}-second bucket, oldest first`,
  properties: {
    bucketMs: { type: 'integer' },
    start: { type: 'integer', description: 'epoch ms of the first bucket' },
    calls: { type: 'array', items: { type: 'integer' } },
    errors: {
      type: 'array',
      items: { type: 'integer' },
      description: 'calls answered with status 500 or above',
    },
    coldStarts: { type: 'array', items: { type: 'integer' } },
    p50Ms: { type: 'array', items: { type: ['number', 'null'] } },
    p99Ms: { type: 'array', items: { type: ['number', 'null'] } },
  },
};

const recentCall = {
  type: 'object',
  properties: {
    at: { type: 'integer', description: 'epoch ms when the call finished' },
    status: { type: 'integer' },
    durationMs: { type: 'number' },
    cold: { type: 'boolean', description: 'it waited for an instance started for it' },
    instance: { type: 'string', description: 'the instance that served it, when one did' },
    callId: { type: 'string', description: 'its X-Call-Id, which its log lines carry (/system/logs)' },
  },
};

const summary = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    calls: { type: 'integer' },
    errors: { type: 'integer' },
    coldStarts: { type: 'integer' },
    rate: { type: 'number', description: 'calls per second over the window' },
    p50Ms: { type: ['number', 'null'] },
    p99Ms: { type: ['number', 'null'] },
    spark: { type: 'array', items: { type: 'integer' }, description: 'calls per bucket over the window' },
  },
};

export function dashboardPaths(): Record<string, unknown> {
  return {
    '/ui': {
      get: { summary: 'The dashboard (docs/ui.md)', security: [], responses: dashboardResponses() },
    },
    '/ui/': {
      get: { summary: 'The dashboard (docs/ui.md)', security: [], responses: dashboardResponses() },
    },
    '/ui/{file}': {
      get: {
        summary: "One of the dashboard's files (its script, stylesheet and icon, by exact name)",
        security: [],
        parameters: [pathParam('file')],
        responses: {
          '200': { description: 'the file (gzipped when the client accepts it)' },
          '304': { description: 'unchanged (If-None-Match)' },
          '404': errorResponse('ERR_ROUTE_NOT_FOUND'),
          '503': errorResponse('ERR_UI_NOT_BUILT'),
        },
      },
    },
    '/api/v1/whoami': {
      get: {
        summary:
          'What the credential is: its id, scope, namespace and functions. Any valid credential may ask (an invoke key too), so the route checks it itself',
        security: [],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              id: { type: 'string' },
              scope: { type: 'string', enum: ['admin', 'deploy', 'invoke', 'read'] },
              namespace: { type: 'string' },
              functions: { oneOf: [{ const: '*' }, { type: 'array', items: { type: 'string' } }] },
            },
          }),
          '401': errorResponse('ERR_AUTH_REQUIRED or ERR_AUTH_INVALID'),
        },
      },
    },
    '/api/v1/activity': {
      get: {
        summary: `Calls, errors (status >= 500), cold starts, rate and p50/p99 latency per function over a window (read scope; namespace \`*\`: every function the credential sees)`,
        parameters: [
          namespaceQuery,
          {
            name: 'window',
            in: 'query',
            description: 'seconds',
            schema: {
              type: 'integer',
              minimum: BUCKET_SECONDS,
              maximum: WINDOW_MINUTES * 60,
              default: DEFAULT_SUMMARY_SECONDS,
            },
          },
        ],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              bucketMs: { type: 'integer' },
              windowSeconds: { type: 'integer' },
              functions: { type: 'array', items: summary },
            },
          }),
          '400': errorResponse('ERR_REQUEST_INVALID'),
        },
      },
    },
    '/api/v1/functions/{name}/activity': {
      get: {
        summary: `One function's ${BUCKET_SECONDS}-second buckets and its last finished calls (sync and async)`,
        parameters: [
          nameParam,
          namespaceQuery,
          {
            name: 'minutes',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: WINDOW_MINUTES, default: WINDOW_MINUTES },
          },
          {
            name: 'recent',
            in: 'query',
            schema: { type: 'integer', minimum: 0, maximum: RECENT_CALLS, default: 50 },
          },
        ],
        responses: {
          '200': json({
            type: 'object',
            properties: {
              name: { type: 'string' },
              namespace: { type: 'string' },
              series,
              recent: { type: 'array', items: recentCall },
            },
          }),
          '400': errorResponse('ERR_REQUEST_INVALID'),
          '404': errorResponse('ERR_FUNCTION_NOT_FOUND'),
        },
      },
    },
  };
}

function dashboardResponses(): Record<string, unknown> {
  return {
    '200': file('the page'),
    '304': { description: 'unchanged (If-None-Match)' },
    '503': errorResponse('ERR_UI_NOT_BUILT'),
  };
}
