"""OpenWhisk's Python action style for the Nimbus runner (standard library only): `def main(args)` -> dict.

A call through the OpenWhisk API arrives raw: the body is the params, the answer the result's JSON. A plain
HTTP call (`/function/NAME`) maps the request to params as a web action's (query and JSON or form body,
`__ow_method`, `__ow_headers`, `__ow_path`, `__ow_body`) and the result to a response (`statusCode`,
`headers`, `body`; anything else is 200 JSON). As OpenWhisk's runtime: an exception is an application error
`{"error": str(ex)}` (its traceback goes to stderr), a result that is not a dict a developer error.
"""

import base64
import inspect
import json
import os
import sys
import time
import traceback
import uuid
from urllib.parse import parse_qsl

DEADLINE_HEADER = "x-openwhisk-deadline"
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "image/svg+xml")


class Failure(Exception):
    """The action failed (OpenWhisk's action developer error); `code` is the instance protocol's error code."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def is_openwhisk(handler):
    """OpenWhisk's signature: exactly one positional parameter, `main(args)`."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return False
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    return len(positional) == 1 and positional[0].kind != positional[0].VAR_POSITIONAL


def _media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def _is_text(media):
    return media == "" or media.endswith("+json") or media.endswith("+xml") or media.startswith(TEXT_TYPES)


def web_params(fields, body):
    """The params of a plain HTTP request, as a web action gets them."""
    target = fields[1]
    path, _, query = target.partition("?")
    headers = {}
    for i in range(2, len(fields) - 1, 2):
        name, value = fields[i], fields[i + 1]
        headers[name] = headers[name] + ", " + value if name in headers else value
    params = {"__ow_method": fields[0].lower(), "__ow_headers": headers, "__ow_path": path}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = value
    if not body:
        return params
    media = _media_type(headers.get("content-type"))
    if media == "application/json" or media.endswith("+json"):
        try:
            value = json.loads(body)
        except ValueError as err:
            raise ValueError("the JSON body does not parse: %s" % err)
        if isinstance(value, dict):
            params.update(value)
        else:
            params["__ow_body"] = value
    elif media == "application/x-www-form-urlencoded":
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            params[key] = value
    elif _is_text(media):
        params["__ow_body"] = body.decode("utf-8", "replace")
    else:
        params["__ow_body"] = base64.b64encode(body).decode("ascii")
    return params


def _json_answer(status, value):
    return status, [("content-type", "application/json")], json.dumps(value).encode("utf-8")


def function_answer(result):
    """The response to a plain HTTP call: an HTTP-shaped result (or error) as such, any other as JSON."""
    failed = "error" in result
    value = result["error"] if failed else result
    if not (isinstance(value, dict) and ("statusCode" in value or "headers" in value or "body" in value)):
        return _json_answer(400, {"error": value}) if failed else _json_answer(200, value)
    head = []
    content_type = None
    for name, raw in (value.get("headers") or {}).items():
        for one in raw if isinstance(raw, list) else [raw]:
            if name.lower() == "content-type":
                content_type = str(one)
            else:
                head.append((str(name).lower(), str(one)))
    status = value.get("statusCode")
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        raise Failure("The action did not return a valid HTTP response: statusCode is not a number", "invalid_response")
    if status is None:
        status = 400 if failed else 200
    body = value.get("body")
    if body is None or body == "":
        return (status if value.get("statusCode") is not None or failed else 204), head, b""
    if isinstance(body, str):
        content_type = content_type or "text/html; charset=utf-8"
        media = _media_type(content_type)
        try:
            data = body.encode("utf-8") if _is_text(media) else base64.b64decode(body, validate=True)
        except ValueError:
            raise Failure("The action did not return a valid HTTP response: the body of a %s response must be base64"
                          % media, "invalid_response")
    else:
        content_type = content_type or "application/json"
        data = json.dumps(body).encode("utf-8")
    head.append(("content-type", content_type))
    return status, head, data


def run(handler, fields, body, raw, load, await_result):
    """Calls `main` once; returns (status, header pairs, body) or raises Failure."""
    headers = {fields[i]: fields[i + 1] for i in range(2, len(fields) - 1, 2)}
    try:
        if raw:
            params = json.loads(body) if body else {}
            if not isinstance(params, dict):
                raise ValueError("the params are not a JSON object")
        else:
            params = web_params(fields, body)
    except ValueError as err:
        return _json_answer(400, {"error": str(err)})
    # Per call, as OpenWhisk's runtime sets them: with concurrency above 1 they name the latest call started.
    os.environ["__OW_ACTIVATION_ID"] = headers.get("x-call-id") or uuid.uuid4().hex
    deadline = headers.get(DEADLINE_HEADER)
    os.environ["__OW_DEADLINE"] = deadline if deadline else str(int(time.time() * 1000 + load["timeoutMs"]))
    try:
        result = handler(params)
        if inspect.isawaitable(result):
            result = await_result(result)
    except Exception as err:  # noqa: BLE001 - OpenWhisk's runtime answers an exception as the error
        traceback.print_exc(file=sys.stderr)
        result = {"error": str(err)}
    if not isinstance(result, dict):
        raise Failure("The action did not return a dictionary.", "invalid_response")
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as err:
        raise Failure("The action did not return a JSON dictionary: %s" % err, "invalid_response")
    if raw:
        return 200, [("content-type", "application/json")], text.encode("utf-8")
    return function_answer(json.loads(text))
