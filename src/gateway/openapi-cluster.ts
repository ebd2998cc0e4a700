// The cluster parts of the OpenAPI document: the nodes and topic publishing (merged by openapi.ts).
import { nodeSchema } from '../cluster/membership.js';
import { TOPIC_BODY_LIMIT_BYTES } from '../triggers/topics-routes.js';
import { errorResponse, json, namespaceQuery, outputSchema, pathParam } from './openapi-parts.js';

export function clusterPaths(): Record<string, unknown> {
  return {
    '/api/v1/nodes': {
      get: {
        summary:
          "The cluster's nodes with their load and last heartbeat (a single node lists itself, cluster: false)",
        responses: {
          '200': json({
            type: 'object',
            properties: {
              cluster: { type: 'boolean' },
              nodes: {
                type: 'array',
                items: {
                  allOf: [
                    outputSchema(nodeSchema),
                    {
                      type: 'object',
                      properties: {
                        alive: { type: 'boolean', description: 'heard from within three heartbeats' },
                        self: { type: 'boolean', description: 'the node that answered' },
                      },
                    },
                  ],
                },
              },
            },
          }),
        },
      },
    },
    '/api/v1/topics/{subject}': {
      post: {
        summary:
          'Publish the body to a topic: functions with a matching `topics:` entry run (over NATS in a cluster, in-process on a single node)',
        parameters: [
          pathParam('subject', {
            type: 'string',
            description: 'one NATS subject: no wildcards, first token not `nimbus` or `_INBOX`',
          }),
          namespaceQuery,
          {
            name: 'request',
            in: 'query',
            description: 'true: wait for one reply and answer it',
            schema: { type: 'string', enum: ['true', 'false'] },
          },
          {
            name: 'timeoutMs',
            in: 'query',
            description: 'how long a request waits for its reply',
            schema: { type: 'integer', minimum: 1, maximum: 300000, default: 10000 },
          },
        ],
        requestBody: {
          description: `the message, at most ${TOPIC_BODY_LIMIT_BYTES} bytes`,
          content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
        },
        responses: {
          '200': {
            description: 'the reply (request=true)',
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          '202': json(
            {
              type: 'object',
              properties: {
                published: { type: 'string' },
                bytes: { type: 'integer' },
                bus: { type: 'string', enum: ['nats', 'in-process'] },
              },
            },
            'published',
          ),
          '400': errorResponse('ERR_TOPIC_INVALID or ERR_REQUEST_INVALID'),
          '413': errorResponse('ERR_REQUEST_BODY_TOO_LARGE'),
          '504': errorResponse('ERR_TOPIC_NO_SUBSCRIBER (request=true: no reply in time)'),
        },
      },
    },
  };
}
