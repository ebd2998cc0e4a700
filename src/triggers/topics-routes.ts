// POST /api/v1/topics/{subject}: publishes the body to a topic (what `nimbus publish` sends); with
// `?request=true` waits for one reply and answers it. Deploy scope in `?namespace=` (default: the default
// one): publishing runs that namespace's functions, and only its own (topic-subject.ts).
import type { IncomingMessage } from 'node:http';
import { TOPIC_RE, topicProblem } from '../config/function-spec.js';
import { namespaceParam } from '../config/namespace.js';
import { NimbusError } from '../errors.js';
import { sendJson } from '../gateway/respond.js';
import type { Router } from '../gateway/router.js';
import { busSubject } from './topic-subject.js';
import type { TopicBus } from './topics.js';

/** A published message is at most this large (NATS's default max_payload). */
export const TOPIC_BODY_LIMIT_BYTES = 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export function topicRoutes(bus: () => TopicBus): (router: Router) => void {
  return (router) => {
    router.add(
      'POST',
      '/api/v1/topics/:subject',
      async ({ req, res, params, url }) => {
        const topic = params.subject!;
        // A published subject names one subject: no wildcards, none of the platform's own.
        if (!TOPIC_RE.test(topic) || topic.includes('*') || topic.includes('>') || topicProblem(topic))
          throw new NimbusError('ERR_TOPIC_INVALID', [topic.slice(0, 80)]);
        // The namespace the router authorized (`?namespace=`): its topics, not another's.
        const subject = busSubject(namespaceParam(url.searchParams.get('namespace')), topic);
        const body = await readBody(req);
        const contentType = req.headers['content-type'];
        const headers: [string, string][] = contentType ? [['content-type', contentType]] : [];
        if (url.searchParams.get('request') === 'true') {
          const timeoutMs = Number(url.searchParams.get('timeoutMs') ?? DEFAULT_REQUEST_TIMEOUT_MS);
          if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 300_000)
            throw new NimbusError('ERR_REQUEST_INVALID', ['timeoutMs must be an integer from 1 to 300000']);
          const reply = await bus().request(subject, body, timeoutMs);
          res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(reply);
          return;
        }
        await bus().publish(subject, body, headers);
        sendJson(res, 202, { published: topic, bytes: body.length, bus: bus().kind });
      },
      { access: 'deploy' },
    );
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > TOPIC_BODY_LIMIT_BYTES)
      throw new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [TOPIC_BODY_LIMIT_BYTES]);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
