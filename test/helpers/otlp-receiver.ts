// Test helper: a small OTLP/HTTP receiver (JSON encoding) on 127.0.0.1 port 0 that keeps every span POSTed
// to /v1/traces, flattened, and lets a test wait for the ones it expects. Closed when the test ends.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { z } from 'zod';
import { waitFor } from './platform.js';

const anyValue = z.object({
  stringValue: z.string().optional(),
  intValue: z.union([z.number(), z.string()]).optional(),
  doubleValue: z.number().optional(),
  boolValue: z.boolean().optional(),
});
const keyValues = z.array(z.object({ key: z.string(), value: anyValue })).optional();
/** ExportTraceServiceRequest as OTLP/JSON writes it (ids in hex), the parts the tests read. */
const exportRequest = z.object({
  resourceSpans: z.array(
    z.object({
      resource: z.object({ attributes: keyValues }).optional(),
      scopeSpans: z.array(
        z.object({
          spans: z.array(
            z.object({
              traceId: z.string().regex(/^[0-9a-f]{32}$/),
              spanId: z.string().regex(/^[0-9a-f]{16}$/),
              parentSpanId: z.string().optional(),
              traceState: z.string().optional(),
              name: z.string(),
              kind: z.number(),
              startTimeUnixNano: z.union([z.string(), z.number()]),
              endTimeUnixNano: z.union([z.string(), z.number()]),
              attributes: keyValues,
              status: z.object({ code: z.number().optional(), message: z.string().optional() }).optional(),
            }),
          ),
        }),
      ),
    }),
  ),
});

export type AttributeValue = string | number | boolean | undefined;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttributeValue>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  resource: Record<string, AttributeValue>;
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

export interface OtlpReceiver {
  /** The base URL, as `tracing.otlpEndpoint` takes it. */
  url: string;
  spans: ReceivedSpan[];
  /** Requests to /v1/traces so far (also those that held no span). */
  requests(): number;
  /** Waits for spans matching `match` until there are at least `count` (a generous deadline). */
  waitForSpans(
    match: (span: ReceivedSpan) => boolean,
    count?: number,
    what?: string,
  ): Promise<ReceivedSpan[]>;
  /** Every span of one trace. */
  trace(traceId: string): ReceivedSpan[];
}

function flatten(attributes: z.infer<typeof keyValues>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const { key, value } of attributes ?? []) {
    out[key] =
      value.stringValue ??
      (value.intValue === undefined ? undefined : Number(value.intValue)) ??
      value.doubleValue ??
      value.boolValue;
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startOtlpReceiver(t: TestContext): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      requests++;
      const parsed = exportRequest.safeParse(JSON.parse(body.toString('utf8')));
      if (!parsed.success) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{}');
        throw new Error(`not an OTLP/JSON trace export: ${parsed.error.message}`);
      }
      for (const rs of parsed.data.resourceSpans) {
        const resource = flatten(rs.resource?.attributes);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              traceState: s.traceState ?? '',
              name: s.name,
              kind: s.kind,
              startMs: Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000,
              endMs: Number(BigInt(s.endTimeUnixNano) / 1000n) / 1000,
              attributes: flatten(s.attributes),
              statusCode: s.status?.code ?? 0,
              resource,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests: () => requests,
    async waitForSpans(match, count = 1, what = 'spans') {
      return waitFor(
        () => {
          const found = spans.filter(match);
          return found.length >= count ? found : undefined;
        },
        20_000,
        what,
      );
    },
    trace: (traceId) => spans.filter((s) => s.traceId === traceId),
  };
}
