// Tracing of calls (docs/observability.md): what the invoke paths ask of it, and starting it. The
// OpenTelemetry SDK is loaded only when an OTLP endpoint is configured; without one the paths hold no
// tracer and make no span objects, and only pass a `traceparent` on (trace-context.ts).
import type { IncomingMessage } from 'node:http';
import type { PlatformConfig } from '../config/platform.js';
import type { CallSource } from '../queue/envelope.js';
import { asVersion00, isValidTraceparent, newTraceparent, parseTracestate } from './trace-context.js';

/** What kind of work a call's root span stands for (OpenTelemetry's SpanKind). */
export type CallKind = 'server' | 'consumer' | 'producer' | 'internal';

/** Span attribute values, as OpenTelemetry takes them. */
export type TraceAttributes = Record<string, string | number | boolean>;

export interface CallTraceStart {
  /** The root span's name: `GET /function/hello`, `async hello`, `cron hello`. */
  name: string;
  kind: CallKind;
  /** The function's id (`hello`, `hello.team-a`): names the function span. */
  fn: string;
  /** The caller's `traceparent` and `tracestate` as they arrived (checked here; bad ones start a new trace). */
  traceparent: string | string[] | undefined;
  tracestate: string | string[] | undefined;
  attributes: TraceAttributes;
  /** When the call began (epoch ms, fractions allowed). Default: now. */
  startTimeMs?: number;
  /** A queued call: when it was queued (epoch ms). A `queue wait` span covers the time until the start. */
  queuedAtMs?: number;
}

/** When the stream of a call opened, what it had waited for (the lease gives these). */
export interface LeaseTiming {
  /** Time the call waited for a slot (ms); 0 when one was free. */
  readonly waitMs: number;
  /** It waited for an instance started for it. */
  readonly cold: boolean;
  /** That instance's start and load time (ms). */
  readonly initMs: number;
  readonly instanceId: string | undefined;
}

/** The spans of one call, from its start to its end. */
export interface CallTrace {
  /** The `traceparent` passed on (to the function, or with a queued call): this call's span as parent. */
  readonly traceparent: string;
  /** The caller's `tracestate`, when valid, passed on unchanged. */
  readonly tracestate: string | undefined;
  /** The call's stream opened on an instance: the wait before it (cold start or pool wait) and the function span start. */
  opened(lease: LeaseTiming): void;
  /** Adds an attribute to the call's span (the call id, once known). */
  setAttribute(name: string, value: string | number | boolean): void;
  /**
   * The call is over with `status` (the function's or the platform's; 0: none, a call only queued);
   * `error`: the platform decided it.
   */
  end(status: number, error?: { code: string; message: string }): void;
}

export interface Tracing {
  /** Starts the root span of a call (a child of the caller's span when its `traceparent` is valid). */
  startCall(start: CallTraceStart): CallTrace;
  /** Exports every span ended so far (tests, shutdown). */
  flush(): Promise<void>;
  /** Exports what is left (waiting at most `maxWaitMs`) and stops. */
  close(maxWaitMs: number): Promise<void>;
}

/** OpenTelemetry's `faas.trigger` of a queued call, by where it came from. */
export const FAAS_TRIGGERS: Readonly<Record<CallSource, string>> = {
  http: 'http',
  cron: 'timer',
  topic: 'pubsub',
};

export type TracingEvent = { type: 'tracing-export-failed'; endpoint: string; error: string };

/** `{base}/v1/traces`, as OTEL_EXPORTER_OTLP_ENDPOINT's signal paths are made (one `/` between). */
export function tracesUrl(base: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
}

/** The platform's tracing, or undefined when no OTLP endpoint is configured (nothing is loaded then). */
export async function startTracing(
  config: Pick<PlatformConfig, 'tracing' | 'nodeId'>,
  onEvent: (event: TracingEvent) => void,
): Promise<Tracing | undefined> {
  const { otlpEndpoint, serviceName, exportDelayMs, sampleRatio } = config.tracing;
  if (otlpEndpoint === undefined) return undefined;
  const { OtelTracing } = await import('./otel-tracing.js');
  return new OtelTracing({
    url: tracesUrl(otlpEndpoint),
    serviceName,
    exportDelayMs,
    sampleRatio,
    ...(config.nodeId === undefined ? {} : { instanceId: config.nodeId }),
    onEvent,
  });
}

/**
 * The trace context a call passes on when the gateway records no spans (no tracer): the caller's valid
 * `traceparent` (as version 00) and `tracestate`, else a new trace with the sampled flag off and no state.
 */
export function passOn(
  traceparent: string | string[] | undefined,
  tracestate: string | string[] | undefined,
): { traceparent: string; tracestate: string | undefined } {
  return isValidTraceparent(traceparent)
    ? { traceparent: asVersion00(traceparent), tracestate: parseTracestate(tracestate) }
    : { traceparent: newTraceparent(), tracestate: undefined };
}

/**
 * The server span of a call on an invocation route (`/function/`, `/async-function/`): named by method and
 * route with the function's id (`GET /function/hello`; ids are as few as the deployed functions), a child of
 * the request's `traceparent` when valid. The query is left out of the span (it may carry a key).
 */
export function startHttpTrace(
  tracing: Tracing,
  req: IncomingMessage,
  prefix: string,
  fn: string,
): CallTrace {
  const url = req.url!;
  const q = url.indexOf('?');
  const route = `${prefix}${fn}`;
  return tracing.startCall({
    name: `${req.method} ${route}`,
    kind: 'server',
    fn,
    traceparent: req.headers.traceparent,
    tracestate: req.headers.tracestate,
    attributes: {
      'http.request.method': req.method!,
      'http.route': route,
      'url.path': q === -1 ? url : url.slice(0, q),
      'faas.invoked_name': fn,
      'faas.trigger': 'http',
    },
  });
}
