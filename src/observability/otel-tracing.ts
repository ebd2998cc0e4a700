// Tracing on the OpenTelemetry SDK: the spans of each call (root, queue wait, cold start or pool wait,
// function), batched and exported over OTLP/HTTP (JSON) to `{otlpEndpoint}/v1/traces`. Loaded only when
// tracing is configured. Contexts are passed explicitly: no global tracer provider or context manager.
import {
  type Context,
  createTraceState,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from '@opentelemetry/semantic-conventions';
import { formatTraceparent, parseTraceparent, parseTracestate } from './trace-context.js';
import type {
  CallKind,
  CallTrace,
  CallTraceStart,
  LeaseTiming,
  TraceAttributes,
  Tracing,
  TracingEvent,
} from './tracing.js';

/** The platform's version in the resource (package.json's). */
const NIMBUS_VERSION = '0.1.0';
/** OpenTelemetry's ExportResultCode.SUCCESS. */
const EXPORT_SUCCESS = 0;
/** A failing collector is reported at most this often. */
const EXPORT_FAILURE_REPORT_MS = 60_000;
/** One export may take this long before it is abandoned (its spans are dropped). */
const EXPORT_TIMEOUT_MS = 10_000;

/** FaaS and Nimbus attributes (OpenTelemetry's `faas.*` are still incubating: named here, not imported). */
export const ATTR = {
  faasName: 'faas.invoked_name',
  faasTrigger: 'faas.trigger',
  faasColdstart: 'faas.coldstart',
  callId: 'nimbus.call_id',
  instanceId: 'nimbus.instance.id',
  initMs: 'nimbus.instance.init_ms',
} as const;

const KINDS: Record<CallKind, SpanKind> = {
  server: SpanKind.SERVER,
  consumer: SpanKind.CONSUMER,
  producer: SpanKind.PRODUCER,
  internal: SpanKind.INTERNAL,
};

/** Now, as epoch milliseconds with the fraction performance.now() has. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface OtelTracingOptions {
  /** Where spans are POSTed: `{base}/v1/traces`. */
  url: string;
  serviceName: string;
  /** Spans wait this long to be exported in a batch. */
  exportDelayMs: number;
  /** Share of new traces recorded (0..1). */
  sampleRatio: number;
  /** `service.instance.id`: the node's id in a cluster. */
  instanceId?: string;
  onEvent: (event: TracingEvent) => void;
}

export class OtelTracing implements Tracing {
  readonly #provider: TracerProvider;
  readonly #tracer: Tracer;

  constructor(options: OtelTracingOptions) {
    const exporter = new ReportingExporter(
      new OTLPTraceExporter({ url: options.url, timeoutMillis: EXPORT_TIMEOUT_MS }),
      (error) => options.onEvent({ type: 'tracing-export-failed', endpoint: options.url, error }),
    );
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName,
        [ATTR_SERVICE_VERSION]: NIMBUS_VERSION,
        ...(options.instanceId === undefined ? {} : { 'service.instance.id': options.instanceId }),
      }),
      // New traces are recorded at sampleRatio; a caller's decision (its sampled flag) is kept.
      sampler: new ParentBasedSampler({
        root:
          options.sampleRatio >= 1
            ? new AlwaysOnSampler()
            : new TraceIdRatioBasedSampler(options.sampleRatio),
      }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          scheduledDelayMillis: options.exportDelayMs,
          exportTimeoutMillis: EXPORT_TIMEOUT_MS,
        }),
      ],
    });
    this.#tracer = this.#provider.getTracer('nimbus', NIMBUS_VERSION);
  }

  startCall(start: CallTraceStart): CallTrace {
    const startTimeMs = start.startTimeMs ?? nowMs();
    const parent = parseTraceparent(start.traceparent);
    const tracestate = parent ? parseTracestate(start.tracestate) : undefined;
    let context = ROOT_CONTEXT;
    if (parent) {
      context = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: parent.traceId,
        spanId: parent.spanId,
        traceFlags: parent.flags,
        isRemote: true,
        ...(tracestate === undefined ? {} : { traceState: createTraceState(tracestate) }),
      });
    }
    const root = this.#tracer.startSpan(
      start.name,
      { kind: KINDS[start.kind], startTime: startTimeMs, attributes: start.attributes },
      context,
    );
    if (start.queuedAtMs !== undefined && root.isRecording()) {
      // Beside the call's span, under the same parent: the time the call spent in the queue.
      this.#tracer
        .startSpan(
          'queue wait',
          {
            kind: SpanKind.INTERNAL,
            startTime: Math.min(start.queuedAtMs, startTimeMs),
            attributes: { [ATTR.faasName]: start.fn },
          },
          context,
        )
        .end(startTimeMs);
    }
    return new OtelCallTrace(this.#tracer, root, start.fn, tracestate);
  }

  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  async close(maxWaitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, maxWaitMs);
      timer.unref();
    });
    await Promise.race([this.#provider.shutdown().catch(() => {}), deadline]);
    clearTimeout(timer);
  }
}

class OtelCallTrace implements CallTrace {
  readonly #tracer: Tracer;
  readonly #root: Span;
  readonly #fn: string;
  #function: Span | undefined;
  #ended = false;
  readonly traceparent: string;
  readonly tracestate: string | undefined;

  constructor(tracer: Tracer, root: Span, fn: string, tracestate: string | undefined) {
    this.#tracer = tracer;
    this.#root = root;
    this.#fn = fn;
    const { traceId, spanId, traceFlags } = root.spanContext();
    this.traceparent = formatTraceparent(traceId, spanId, traceFlags);
    this.tracestate = tracestate;
  }

  setAttribute(name: string, value: string | number | boolean): void {
    this.#root.setAttribute(name, value);
  }

  opened(lease: LeaseTiming): void {
    const root = this.#root;
    if (this.#ended || this.#function !== undefined || !root.isRecording()) return;
    const now = nowMs();
    const context: Context = trace.setSpan(ROOT_CONTEXT, root);
    const instance = lease.instanceId === undefined ? {} : { [ATTR.instanceId]: lease.instanceId };
    root.setAttribute(ATTR.faasColdstart, lease.cold);
    if (lease.waitMs > 0) {
      const attributes: TraceAttributes = lease.cold
        ? { ...instance, [ATTR.initMs]: lease.initMs }
        : instance;
      this.#tracer
        .startSpan(
          lease.cold ? 'cold start' : 'pool wait',
          { kind: SpanKind.INTERNAL, startTime: now - lease.waitMs, attributes },
          context,
        )
        .end(now);
    }
    this.#function = this.#tracer.startSpan(
      `function ${this.#fn}`,
      { kind: SpanKind.INTERNAL, startTime: now, attributes: { [ATTR.faasName]: this.#fn, ...instance } },
      context,
    );
  }

  end(status: number, error?: { code: string; message: string }): void {
    if (this.#ended) return;
    this.#ended = true;
    const now = nowMs();
    const failed = status >= 500;
    const fn = this.#function;
    if (fn) {
      if (status > 0) fn.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (failed) fn.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? `status ${status}` });
      fn.end(now);
    }
    const root = this.#root;
    if (status > 0) root.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (error) root.setAttribute(ATTR_ERROR_TYPE, error.code);
    else if (failed) root.setAttribute(ATTR_ERROR_TYPE, String(status));
    if (failed) root.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? `status ${status}` });
    root.end(now);
  }
}

/** Passes batches to the OTLP exporter and tells of failures (at most once a minute) instead of dropping them silently. */
class ReportingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #report: (error: string) => void;
  #reportedAt = -Infinity;

  constructor(inner: SpanExporter, report: (error: string) => void) {
    this.#inner = inner;
    this.#report = report;
  }

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.#inner.export(spans, (result) => {
      if (result.code !== EXPORT_SUCCESS) {
        const now = performance.now();
        if (now - this.#reportedAt >= EXPORT_FAILURE_REPORT_MS) {
          this.#reportedAt = now;
          this.#report(result.error?.message ?? 'the collector refused the spans');
        }
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}
