"""``moat serve-model``: one GGUF model as an OpenAI-compatible endpoint.

So a small team can share one model with nothing else installed: the embedded
llama.cpp backend behind ``/v1/models`` and ``/v1/chat/completions`` (streaming
SSE and not, ``tools`` supported through Moat's text protocol, calls returned
as structured ``tool_calls``). Requests are served one at a time (one model,
one KV cache). The standard library's HTTP server is enough for that and adds
no dependency.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from moatcode.errors import MoatError
from moatcode.models.base import ModelClient, ModelRequest, ModelTurn, TextChunk
from moatcode.types import Message, ToolCall, ToolSpec

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_chat_request(body: Any, served: str) -> tuple[ModelRequest, bool]:
    """An OpenAI chat-completions body as a ``ModelRequest``, and whether to stream."""
    if not isinstance(body, dict):
        raise BadRequest(400, "The body must be a JSON object.")
    model = body.get("model")
    if model not in (served, None, ""):
        raise BadRequest(404, f"The model `{model}` does not exist; this server serves "
                              f"`{served}`.")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise BadRequest(400, "messages must be a non-empty list.")
    messages = tuple(_message(m, i) for i, m in enumerate(raw_messages))
    tools = tuple(_tool(t) for t in body.get("tools") or [])
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    temperature = body.get("temperature")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 0):
        raise BadRequest(400, "max_tokens must be a positive integer.")
    if temperature is not None and not isinstance(temperature, int | float):
        raise BadRequest(400, "temperature must be a number.")
    request = ModelRequest(messages, tools, max_tokens,
                           float(temperature) if temperature is not None else None)
    return request, body.get("stream") is True


def _message(data: Any, index: int) -> Message:
    if not isinstance(data, dict) or data.get("role") not in ("system", "user", "assistant",
                                                              "tool"):
        raise BadRequest(400, f"messages[{index}] needs a role of system, user, assistant or "
                              "tool.")
    content = data.get("content") or ""
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise BadRequest(400, f"messages[{index}].content must be a string.")
    calls = []
    for call in data.get("tool_calls") or []:
        function = call.get("function", {}) if isinstance(call, dict) else {}
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(ToolCall(str(call.get("id", "")), str(function.get("name", "")), arguments))
    return Message(data["role"], content, tuple(calls), data.get("tool_call_id"))


def _tool(data: Any) -> ToolSpec:
    function = data.get("function") if isinstance(data, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(400, "each tool needs a function with a name.")
    return ToolSpec(function["name"], str(function.get("description", "")),
                    function.get("parameters") or {"type": "object", "properties": {}})


class ModelServer:
    def __init__(self, client: ModelClient, host: str, port: int,
                 api_key: str | None = None) -> None:
        self.client = client
        self.api_key = api_key
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{
            "id": self.client.model, "object": "model", "owned_by": "moat",
            "max_model_len": self.client.context_window()}]}

    def complete(self, request: ModelRequest) -> Iterator[TextChunk | ModelTurn]:
        with self._lock:
            for delta in self.client.stream(request):
                if isinstance(delta, TextChunk | ModelTurn):
                    yield delta


def _handler_for(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _authorized(self) -> bool:
            if server.api_key is None:
                return True
            given = self.headers.get("Authorization", "")
            return hmac.compare_digest(given.encode(), f"Bearer {server.api_key}".encode())

        def do_GET(self) -> None:
            if not self._authorized():
                return self._error(401, "A valid API key is required.")
            if self.path.split("?")[0] in ("/v1/models", "/models"):
                return self._json(200, server.models())
            if self.path == "/health":
                return self._json(200, {"status": "ok"})
            return self._error(404, f"Not found: {self.path}")

        def do_POST(self) -> None:
            if not self._authorized():
                return self._error(401, "A valid API key is required.")
            if self.path.split("?")[0] not in ("/v1/chat/completions", "/chat/completions"):
                return self._error(404, f"Not found: {self.path}")
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise BadRequest(413, f"The body is over {MAX_BODY} bytes.")
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except ValueError as exc:
                    raise BadRequest(400, f"The body is not JSON ({exc}).") from exc
                request, stream = parse_chat_request(body, server.client.model)
            except BadRequest as exc:
                return self._error(exc.status, str(exc))
            try:
                if stream:
                    self._stream(request)
                else:
                    self._whole(request)
            except MoatError as exc:
                self._error(400, str(exc))

        def _whole(self, request: ModelRequest) -> None:
            turn = [d for d in server.complete(request) if isinstance(d, ModelTurn)][-1]
            calls = [c for c in turn.tool_calls if not c.invalid]
            message: dict[str, Any] = {"role": "assistant", "content": _content(turn) or None}
            if calls:
                message["tool_calls"] = [_call_json(c) for c in calls]
            self._json(200, {**_envelope("chat.completion", server.client.model), "choices": [
                {"index": 0, "message": message, "finish_reason": turn.finish_reason}],
                "usage": _usage(turn)})

        def _stream(self, request: ModelRequest) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            envelope = _envelope("chat.completion.chunk", server.client.model)
            self._event({**envelope, "choices": [
                {"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
            for delta in server.complete(request):
                if isinstance(delta, TextChunk):
                    self._event({**envelope, "choices": [
                        {"index": 0, "delta": {"content": delta.text}, "finish_reason": None}]})
                    continue
                if _content(delta) != delta.text:
                    self._event({**envelope, "choices": [{"index": 0, "delta": {
                        "content": _content(delta)[len(delta.text):]}, "finish_reason": None}]})
                valid = [c for c in delta.tool_calls if not c.invalid]
                if valid:
                    calls = [{"index": i, **_call_json(c)} for i, c in enumerate(valid)]
                    self._event({**envelope, "choices": [
                        {"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}]})
                self._event({**envelope, "choices": [
                    {"index": 0, "delta": {}, "finish_reason": delta.finish_reason}],
                    "usage": _usage(delta)})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, data: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
            self.wfile.flush()

        def _json(self, status: int, data: Any) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int, message: str) -> None:
            kind = HTTPStatus(status).phrase.replace(" ", "")
            self._json(status, {"error": {"message": message, "type": kind, "code": status}})

    return Handler


def _envelope(kind: str, model: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": kind,
            "created": int(time.time()), "model": model}


def _content(turn: ModelTurn) -> str:
    """The answer's text; a malformed call goes back as the text it was, so the client's
    own reading of calls from text reports it to the model instead of running it."""
    broken = [c.arguments for c in turn.tool_calls if c.invalid]
    return "\n".join([turn.text, *broken]) if broken else turn.text


def _call_json(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


def _usage(turn: ModelTurn) -> dict[str, Any]:
    return {"prompt_tokens": turn.usage.prompt_tokens,
            "completion_tokens": turn.usage.completion_tokens,
            "total_tokens": turn.usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": turn.usage.cached_tokens}}
