"""The Nimbus Python runner: one per instance process (Python 3.8+, standard library only).

It connects to the gateway's Unix socket, loads one handler once, and serves many requests over the
instance protocol (docs/runtimes.md) on a thread pool, so `concurrency > 1` works. Handler styles:
  - OpenFaaS python3-http: `def handle(event, context)`, event.body/headers/method/query/path,
    returning {"statusCode", "body", "headers"};
  - OpenWhisk: `def main(args)` (one parameter) returning a dict (openwhisk_style.py);
  - Lambda: any other name, `def handler(event, context)`, HTTP requests as payload 2.0 events and the
    result mapped back the way Lambda does.
All may be `async def`.
"""

import asyncio
import base64
import importlib
import inspect
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import openwhisk_style

PROTOCOL_VERSION = 2
HEADER = struct.Struct(">IBBI")
MAX_FRAME_PAYLOAD = 1024 * 1024
# Body bytes either side may send on one stream before the other grants more (WINDOW frames).
STREAM_WINDOW = 256 * 1024
# Consumed request body is granted back to the gateway in steps of this much.
WINDOW_UPDATE = STREAM_WINDOW // 4
FLAG_END = 1
# On REQUEST: the body is a Lambda event passed as it is (the Invoke API), not an HTTP request.
FLAG_RAW_EVENT = 2
HELLO, LOAD, LOADED, LOAD_ERROR = 1, 2, 3, 4
REQUEST, REQUEST_BODY, RESPONSE, RESPONSE_BODY, ERROR, CANCEL, WINDOW = 10, 11, 12, 13, 14, 15, 16
WINDOW_PAYLOAD = struct.Struct(">I")

TEXT_TYPE = re.compile(r"^text/|json|xml|javascript|x-www-form-urlencoded|yaml|csv", re.I)
# A version-00 W3C traceparent (the gateway always sends one in this form).
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Writer:
    """Queues frames from any thread; one writer thread sends all that is queued with one sendall."""

    def __init__(self, sock):
        self._sock = sock
        self._cond = threading.Condition()
        self._queue = []
        threading.Thread(target=self._run, name="nimbus-writer", daemon=True).start()

    def frame(self, kind, flags, stream_id, payload=b""):
        parts = []
        view = memoryview(payload)
        offset = 0
        while True:
            size = min(len(view) - offset, MAX_FRAME_PAYLOAD)
            last = offset + size >= len(view)
            parts.append(HEADER.pack(size, kind, flags if last else flags & ~FLAG_END, stream_id))
            if size:
                parts.append(view[offset : offset + size])
            offset += size
            if last:
                break
        with self._cond:
            self._queue.extend(parts)
            self._cond.notify()

    def json(self, kind, stream_id, value):
        self.frame(kind, FLAG_END, stream_id, json.dumps(value).encode())

    def _run(self):
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch, self._queue = self._queue, []
            try:
                self._sock.sendall(b"".join(batch))
            except OSError:
                os._exit(0)


class Headers(dict):
    """Request headers with case-insensitive lookup (as Flask's, which the OpenFaaS template hands over)."""

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key):
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)


class Query(dict):
    """Query parameters: `query["a"]` and `query.get("a")` give the first value, `getlist("a")` every one."""

    def __init__(self, raw):
        super().__init__()
        self._lists = {}
        for key, value in parse_qsl(raw, keep_blank_values=True):
            self._lists.setdefault(key, []).append(value)
            self.setdefault(key, value)

    def getlist(self, key):
        return list(self._lists.get(key, []))


class Event:
    """The OpenFaaS python3-http event."""

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body


class Context:
    """The context both styles get: Lambda's attributes, and OpenFaaS's `hostname`."""

    def __init__(self, load, request_id):
        name = load["name"]
        self._deadline = time.monotonic() + load["timeoutMs"] / 1000
        self.hostname = os.environ.get("HOSTNAME", "localhost")
        self.function_name = name
        self.function_version = str(load["version"])
        self.invoked_function_arn = "arn:aws:lambda:local:000000000000:function:" + name
        self.memory_limit_in_mb = str(load["memoryMb"])
        self.aws_request_id = request_id
        self.log_group_name = "/aws/lambda/" + name
        self.log_stream_name = "%s/%s" % (name, load["version"])
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Stream:
    __slots__ = ("fields", "chunks", "raw", "unacked", "credit", "pending")

    def __init__(self, fields, raw=False):
        self.fields = fields
        self.chunks = []
        self.raw = raw
        # Request body received (and so consumed: it is kept whole) but not yet granted back.
        self.unacked = 0
        # Response body the gateway's window still takes, and what waits for more of it.
        self.credit = STREAM_WINDOW
        self.pending = None


def is_text(content_type, body):
    if content_type:
        return bool(TEXT_TYPE.search(content_type))
    try:
        body.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def clf_time(t):
    g = time.gmtime(t)
    return "%02d/%s/%d:%02d:%02d:%02d +0000" % (
        g.tm_mday, MONTHS[g.tm_mon - 1], g.tm_year, g.tm_hour, g.tm_min, g.tm_sec,
    )


def split_target(target):
    path, _, query = target.partition("?")
    return path, query


def header_pairs(fields):
    return [(fields[i], fields[i + 1]) for i in range(2, len(fields) - 1, 2)]


def xray_trace_header(traceparent):
    """The call's traceparent in AWS X-Ray's form, as Lambda gives it in _X_AMZN_TRACE_ID; None without one."""
    m = TRACEPARENT.match(traceparent or "")
    if not m:
        return None
    trace_id, span_id, flags = m.groups()
    return "Root=1-%s-%s;Parent=%s;Sampled=%d" % (trace_id[:8], trace_id[8:], span_id, int(flags, 16) & 1)


def lambda_event(fields, body):
    """The function-URL payload 2.0 event of a request (as src/runtimes/node/lambda-style.ts builds it)."""
    method, target = fields[0], fields[1]
    raw_path, raw_query = split_target(target)
    headers, cookies = {}, None
    for name, value in header_pairs(fields):
        if name == "cookie":
            cookies = (cookies or []) + [c for c in re.split(r";\s*", value) if c]
            continue
        headers[name] = headers[name] + "," + value if name in headers else value
    now = time.time()
    host = headers.get("host", "localhost")
    forwarded = headers.get("x-forwarded-for")
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "nimbus",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": forwarded.split(",")[0].strip() if forwarded else "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": headers.get("x-call-id") or str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies is not None:
        event["cookies"] = cookies
    if raw_query:
        params = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = params[key] + "," + value if key in params else value
        event["queryStringParameters"] = params
    if body:
        if is_text(headers.get("content-type"), body):
            event["body"] = body.decode("utf-8", "replace")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def openfaas_event(fields, body):
    path, query = split_target(fields[1])
    headers = Headers()
    for name, value in header_pairs(fields):
        if name in headers:
            value = dict.__getitem__(headers, name) + ("; " if name == "cookie" else ", ") + value
        dict.__setitem__(headers, name, value)
    return Event(fields[0], path, Query(query), headers, body)


def to_bytes(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(value).encode("utf-8")


def from_lambda_result(result):
    """Status, header pairs and body of a Lambda handler's result, inferred as Lambda does."""
    if isinstance(result, dict) and isinstance(result.get("statusCode"), int):
        head = []
        for name, value in (result.get("headers") or {}).items():
            if value is not None:
                head.append((str(name).lower(), str(value)))
        for cookie in result.get("cookies") or []:
            head.append(("set-cookie", str(cookie)))
        body = result.get("body")
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
        return result["statusCode"], head, data
    return 200, [("content-type", "application/json")], json.dumps(result).encode("utf-8")


def from_openfaas_result(result):
    """Status, header pairs and body of an OpenFaaS python3-http handler's result."""
    if result is None:
        return 200, [], b""
    if not isinstance(result, dict):
        return 200, [], to_bytes(result)
    head = []
    headers = result.get("headers") or {}
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        head.append((str(name).lower(), str(value)))
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, (dict, list)):
        data = json.dumps(body).encode("utf-8")
        if not any(name == "content-type" for name, _ in head):
            head.append(("content-type", "application/json"))
    else:
        data = to_bytes(body)
    return int(result.get("statusCode", 200)), head, data


class Runner:
    def __init__(self, sock):
        self.writer = Writer(sock)
        self.sock = sock
        self.streams = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="nimbus-request")
        self.load_message = None
        self.handler = None
        self.style = None
        self.loop = None

    def serve(self):
        self.writer.json(HELLO, 0, {"protocol": PROTOCOL_VERSION, "runtime": "python", "pid": os.getpid()})
        buf = bytearray()
        while True:
            try:
                chunk = self.sock.recv(262144)
            except OSError:
                chunk = b""
            if not chunk:
                # The gateway went away: this instance has no purpose left.
                os._exit(0)
            buf += chunk
            offset = 0
            while len(buf) - offset >= HEADER.size:
                length, kind, flags, stream_id = HEADER.unpack_from(buf, offset)
                end = offset + HEADER.size + length
                if end > len(buf):
                    break
                self.on_frame(kind, flags, stream_id, bytes(buf[offset + HEADER.size : end]))
                offset = end
            del buf[:offset]

    def on_frame(self, kind, flags, stream_id, payload):
        if kind == LOAD:
            self.load(json.loads(payload))
        elif kind == REQUEST:
            stream = Stream(payload.decode("utf-8").split("\0"), bool(flags & FLAG_RAW_EVENT))
            with self.lock:
                self.streams[stream_id] = stream
            if flags & FLAG_END:
                self.pool.submit(self.run, stream_id, stream)
        elif kind == REQUEST_BODY:
            stream = self.streams.get(stream_id)
            if stream is None:
                return
            if payload:
                stream.chunks.append(payload)
            if flags & FLAG_END:
                self.pool.submit(self.run, stream_id, stream)
            elif payload:
                # The body is held here whole: its credit goes back as it arrives.
                stream.unacked += len(payload)
                if stream.unacked >= WINDOW_UPDATE:
                    self.writer.frame(WINDOW, 0, stream_id, WINDOW_PAYLOAD.pack(stream.unacked))
                    stream.unacked = 0
        elif kind == WINDOW:
            if len(payload) == 4:
                self.grant(stream_id, WINDOW_PAYLOAD.unpack(payload)[0])
        elif kind == CANCEL:
            # A thread cannot be stopped: its result is dropped when it comes.
            with self.lock:
                self.streams.pop(stream_id, None)

    def load(self, message):
        # Code is loaded once per process and never replaced.
        if self.load_message is not None:
            self.writer.json(LOAD_ERROR, 0, {"message": "this instance already has a function loaded"})
            return
        self.load_message = message
        try:
            os.environ.update(message.get("env") or {})
            bundle = message["bundleDir"]
            os.chdir(bundle)
            sys.path.insert(0, bundle)
            module_name, _, function_name = message["entry"].rpartition("#")
            if not module_name or not function_name:
                raise ValueError('handler must be "module.function", e.g. handler.handle')
            module = importlib.import_module(module_name)
            handler = getattr(module, function_name, None)
            if not callable(handler):
                raise AttributeError(
                    "module %s (%s) has no function %s" % (module_name, getattr(module, "__file__", "?"), function_name)
                )
            self.handler = handler
            style = message.get("style")
            if style not in ("openfaas", "lambda", "openwhisk"):
                if function_name == "handle":
                    style = "openfaas"
                else:
                    style = "openwhisk" if openwhisk_style.is_openwhisk(handler) else "lambda"
            self.style = style
            if inspect.iscoroutinefunction(handler):
                self.loop = asyncio.new_event_loop()
                threading.Thread(target=self.loop.run_forever, name="nimbus-asyncio", daemon=True).start()
            self.writer.json(LOADED, 0, {"style": self.style})
        except BaseException as err:  # noqa: BLE001 - a SyntaxError or SystemExit at import is a load error too
            self.writer.json(LOAD_ERROR, 0, {"message": describe(err), "stack": traceback.format_exc()})

    def run(self, stream_id, stream):
        if self.handler is None:
            self.fail(stream_id, "no function is loaded in this instance", None)
            return
        fields = stream.fields
        body = b"".join(stream.chunks)
        stream.chunks = []
        request_id = next((v for k, v in header_pairs(fields) if k == "x-call-id"), None) or str(uuid.uuid4())
        if self.style == "openwhisk":
            self.run_openwhisk(stream_id, stream, fields, body)
            return
        raw = stream.raw and self.style == "lambda"
        if self.style == "lambda":
            # Where Lambda's Python runtime puts the trace, per call (calls running at once share it).
            xray = xray_trace_header(next((v for k, v in header_pairs(fields) if k == "traceparent"), None))
            if xray is None:
                os.environ.pop("_X_AMZN_TRACE_ID", None)
            else:
                os.environ["_X_AMZN_TRACE_ID"] = xray
        try:
            context = Context(self.load_message, request_id)
            if raw:
                event = json.loads(body) if body else {}
            elif self.style == "lambda":
                event = lambda_event(fields, body)
            else:
                event = openfaas_event(fields, body)
            result = self.handler(event, context)
            if inspect.isawaitable(result):
                result = asyncio.run_coroutine_threadsafe(result, self.loop or self.start_loop()).result()
            if raw:
                status, head, data = 200, [("content-type", "application/json")], json.dumps(result).encode("utf-8")
            elif self.style == "lambda":
                status, head, data = from_lambda_result(result)
            else:
                status, head, data = from_openfaas_result(result)
        except BaseException as err:  # noqa: BLE001 - the handler's failure is the caller's 500
            if not raw:
                self.fail(stream_id, describe(err), traceback.format_exc())
                return
            # Lambda's error answer to an Invoke caller (what the Python runtime client reports).
            status, head = 500, [("content-type", "application/json"), ("x-amz-function-error", "Unhandled")]
            data = json.dumps({
                "errorMessage": str(err),
                "errorType": type(err).__name__,
                "requestId": request_id,
                "stackTrace": traceback.format_tb(err.__traceback__),
            }).encode("utf-8")
        self.respond(stream_id, stream, status, head, data)

    def respond(self, stream_id, stream, status, head, data):
        """Sends a whole answer: its head, then as much of its body as the gateway's window takes."""
        fields_out = [str(status)]
        for name, value in head:
            fields_out.append(name)
            fields_out.append(value)
        head_bytes = "\0".join(fields_out).encode("utf-8")
        with self.lock:
            if self.streams.get(stream_id) is not stream:
                return
            if not data:
                del self.streams[stream_id]
                self.writer.frame(RESPONSE, FLAG_END, stream_id, head_bytes)
                return
            self.writer.frame(RESPONSE, 0, stream_id, head_bytes)
            stream.pending = memoryview(data)
            self.send_pending(stream_id, stream)

    def send_pending(self, stream_id, stream):
        """Sends what the gateway's window takes of the stream's response body (under self.lock)."""
        pending = stream.pending
        take = min(len(pending), stream.credit)
        if take == len(pending):
            stream.credit -= take
            stream.pending = None
            del self.streams[stream_id]
            self.writer.frame(RESPONSE_BODY, FLAG_END, stream_id, pending)
        elif take > 0:
            stream.credit = 0
            stream.pending = pending[take:]
            self.writer.frame(RESPONSE_BODY, 0, stream_id, pending[:take])

    def grant(self, stream_id, size):
        with self.lock:
            stream = self.streams.get(stream_id)
            if stream is None:
                return
            stream.credit += size
            if stream.pending is not None:
                self.send_pending(stream_id, stream)

    def run_openwhisk(self, stream_id, stream, fields, body):
        await_result = lambda coroutine: asyncio.run_coroutine_threadsafe(  # noqa: E731
            coroutine, self.loop or self.start_loop()
        ).result()
        try:
            status, head, data = openwhisk_style.run(
                self.handler, fields, body, stream.raw, self.load_message, await_result
            )
        except openwhisk_style.Failure as err:
            self.fail(stream_id, str(err), None, err.code)
            return
        except BaseException as err:  # noqa: BLE001 - the action's failure is the caller's 500
            self.fail(stream_id, describe(err), traceback.format_exc())
            return
        self.respond(stream_id, stream, status, head, data)

    def start_loop(self):
        with self.lock:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
                threading.Thread(target=self.loop.run_forever, name="nimbus-asyncio", daemon=True).start()
        return self.loop

    def fail(self, stream_id, message, stack, code=None):
        with self.lock:
            if self.streams.pop(stream_id, None) is None:
                return
        error = {"message": message, "stack": stack}
        if code is not None:
            error["code"] = code
        self.writer.json(ERROR, stream_id, error)


def describe(err):
    text = str(err)
    return "%s: %s" % (type(err).__name__, text) if text else type(err).__name__


# Inside a sandbox with a network namespace of its own the gateway is not on this loopback: the port
# below (SANDBOX_GATEWAY_PORT in src/sandbox/bwrap.ts) is piped to the gateway's Unix socket bound into the
# sandbox, so NIMBUS_URL, AWS_ENDPOINT_URL_LAMBDA and __OW_API_HOST work from the function.
GATEWAY_PORT = 38080


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    for s in (source, sink):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forward_gateway_port():
    path = os.environ.pop("NIMBUS_GATEWAY_SOCKET", None)
    if not path:
        return
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", GATEWAY_PORT))
        listener.listen(64)
    except OSError as err:
        sys.stderr.write("nimbus runner: cannot forward the gateway on port %d: %s\n" % (GATEWAY_PORT, err))
        listener.close()
        return

    def accept():
        while True:
            client, _ = listener.accept()
            gateway = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                gateway.connect(path)
            except OSError:
                client.close()
                gateway.close()
                continue
            threading.Thread(target=pump, args=(client, gateway), daemon=True).start()
            threading.Thread(target=pump, args=(gateway, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def main():
    forward_gateway_port()
    path = os.environ.pop("NIMBUS_SOCKET", None)
    if not path:
        sys.stderr.write("nimbus python runner: NIMBUS_SOCKET is not set; the runner is started by Nimbus\n")
        sys.exit(2)
    # The runner's own directory must not shadow the function's modules.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    Runner(sock).serve()


if __name__ == "__main__":
    main()
