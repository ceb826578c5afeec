"""``POST /v1/chat/completions``: check, forward, relay, account.

In order: who is asking (401), whether the gateway can record the request
(503), the body's size (413) and shape (400), the model, resolved from any
alias (404), whether the team may use it (403), the quotas (429 with
Retry-After). Only then is the request sent upstream, re-serialized from what
was checked (so a duplicated key cannot show one model to the gateway and
another to the server) with ``model`` set to the name the server knows. The
path upstream is fixed and no client header is forwarded, so neither a query
string nor a header can change which model is used.

Upstreams are tried in round-robin order; one that refuses before sending a
byte is marked down and the next is tried. No healthy upstream: 503; every
one refused: 502.

A stream is relayed as it arrives: each read from the server is cut at the
last complete event and sent on at once, nothing is held back to fill a
buffer. The response starts as soon as the server's headers are in. If the
server sends garbage or drops the stream, the client gets a well-formed
error event and the record says what happened. If the client goes away, the
upstream connection is closed, which stops the generation.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from moatcode.gateway.auth import Authenticator
from moatcode.gateway.config import GatewayConfig, ModelRoute
from moatcode.gateway.db import DatabaseUnavailable
from moatcode.gateway.exchange import Exchange, Recorder, error_body
from moatcode.gateway.identity import Principal
from moatcode.gateway.metrics import GatewayMetrics
from moatcode.gateway.quotas import QuotaBook
from moatcode.gateway.relay import StreamRelay
from moatcode.gateway.upstream_http import UpstreamFailure, UpstreamResponse, send_request
from moatcode.gateway.upstreams import Upstream, UpstreamSet
from moatcode.gateway.worker import DbWorker

log = logging.getLogger(__name__)

CHAT_ROUTE = "/v1/chat/completions"
_MAX_UPSTREAM_BODY = 64 * 1024 * 1024


class Refusal(Exception):
    """The gateway will not serve this request; becomes an OpenAI-style error answer."""

    def __init__(self, status: int, reason: str, message: str, *,
                 kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.kind = kind
        self.headers = headers or {}

    def response(self, request_id: str) -> Response:
        headers = {"x-request-id": request_id, **self.headers}
        return Response(error_body(self.message, self.kind, self.status), self.status,
                        headers=headers, media_type="application/json")


def unauthorized() -> Refusal:
    """The one answer to every credential problem: it does not say which part was wrong."""
    return Refusal(401, "unauthenticated", "Invalid or missing credentials.",
                   kind="authentication_error", headers={"www-authenticate": "Bearer"})


def client_of(request: Request) -> str:
    client = request.client
    return client.host if client else ""


class Gate:
    """The checks every /v1 route shares: identity, and whether records can be kept."""

    def __init__(self, auth: Authenticator, worker: DbWorker, recorder: Recorder,
                 fail_open: bool) -> None:
        self.auth = auth
        self.worker = worker
        self.recorder = recorder
        self.fail_open = fail_open

    async def admit(self, request: Request, ex: Exchange) -> Principal:
        try:
            principal = await self.auth.authenticate(request.headers.get("authorization"))
        except DatabaseUnavailable as exc:
            raise Refusal(503, "database_unavailable", "The gateway's database is unreachable; "
                          "try again shortly.", kind="server_error",
                          headers={"retry-after": "5"}) from exc
        if principal is None:
            raise unauthorized()
        ex.user, ex.team, ex.token_id = principal.user, principal.team.name, principal.token_id
        if not self.worker.available and not self.fail_open:
            raise Refusal(503, "audit_unavailable", "The gateway cannot record requests right "
                          "now, so it serves none; try again shortly.", kind="server_error",
                          headers={"retry-after": "5"})
        return principal

    def refused(self, ex: Exchange, refusal: Refusal) -> Response:
        ex.refuse(refusal.status, refusal.reason, refusal.message)
        self.recorder.finish(ex)
        return refusal.response(ex.request_id)


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise Refusal(413, "too_large", f"The request body is over the limit of {limit} bytes.")
    parts: list[bytes] = []
    size = 0
    try:
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise Refusal(413, "too_large",
                              f"The request body is over the limit of {limit} bytes.")
            parts.append(part)
    except ClientDisconnect as exc:
        raise Refusal(400, "client_disconnected", "The client went away mid-request.") from exc
    return b"".join(parts)


def parse_chat(body: bytes) -> dict[str, Any]:
    """The request as a JSON object, checked where the gateway relies on it."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refusal(400, "bad_request", f"The body is not valid JSON ({exc}).") from exc
    if not isinstance(value, dict):
        raise Refusal(400, "bad_request", "The body must be a JSON object.")
    model = value.get("model")
    if not isinstance(model, str) or not model:
        raise Refusal(400, "bad_request", "'model' must be a non-empty string.")
    messages = value.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Refusal(400, "bad_request", "'messages' must be a non-empty list.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise Refusal(400, "bad_request",
                          f"messages[{index}] must be an object with a string 'role'.")
    stream = value.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise Refusal(400, "bad_request", "'stream' must be true or false.")
    options = value.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise Refusal(400, "bad_request", "'stream_options' must be an object.")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        number = value.get(name)
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)
                                   or number < 0):
            raise Refusal(400, "bad_request", f"'{name}' must be a non-negative integer.")
    return value


class ChatProxy:
    def __init__(self, config: GatewayConfig, gate: Gate, upstreams: UpstreamSet,
                 quotas: QuotaBook, recorder: Recorder, metrics: GatewayMetrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.gate = gate
        self.upstreams = upstreams
        self.quotas = quotas
        self.recorder = recorder
        self.metrics = metrics
        self.clock = clock

    async def handle(self, request: Request) -> Response:
        ex = Exchange(CHAT_ROUTE, client_of(request))
        try:
            principal = await self.gate.admit(request, ex)
            limit = self.config.max_body_bytes
            team_limit = principal.team.max_request_bytes
            body = await read_body(request, min(limit, team_limit or limit))
            ex.set_request(body)
            value = parse_chat(body)
            ex.model = value["model"]
            ex.stream = value.get("stream") is True
            route = self._route(principal, ex.model)
            ex.resolved = route.name
            refusal = self.quotas.check(principal, self.clock())
            if refusal is not None:
                raise Refusal(429, f"quota_{refusal.limit_name}",
                              f"Over the {refusal.limit_name} quota ({refusal.used} of "
                              f"{refusal.limit} tokens); try again in {refusal.retry_after_s} s.",
                              kind="rate_limit_error",
                              headers={"retry-after": str(refusal.retry_after_s)})
            outgoing = self._outgoing(value, route, ex.stream)
            upstream, answer = await self._send(route, outgoing, ex)
        except Refusal as refusal:
            return self.gate.refused(ex, refusal)
        ex.upstream = upstream.spec.url
        if ex.stream and answer.status == 200 and "event-stream" in answer.content_type:
            return StreamRelay(ex, answer, self.recorder, self.metrics)
        return await self._whole(ex, answer)

    def _route(self, principal: Principal, requested: str) -> ModelRoute:
        route = self.config.resolve_model(requested)
        if route is None:
            raise Refusal(404, "unknown_model", f"The model {requested!r} does not exist.",
                          kind="not_found_error")
        if not principal.team.allows(route.name):
            raise Refusal(403, "model_not_allowed", f"Your team may not use the model "
                          f"{route.name!r}.", kind="permission_error")
        return route

    def _outgoing(self, value: dict[str, Any], route: ModelRoute, stream: bool) -> bytes:
        value["model"] = route.served_name
        if stream:
            options = value.get("stream_options")
            if not isinstance(options, dict) or options.get("include_usage") is not True:
                # Usage is how quotas are counted; clients that did not ask get one more chunk.
                value["stream_options"] = {**(options or {}), "include_usage": True}
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def _send(self, route: ModelRoute, body: bytes,
                    ex: Exchange) -> tuple[Upstream, UpstreamResponse]:
        candidates = self.upstreams.candidates(route.name)
        if not candidates:
            raise Refusal(503, "no_upstream", f"No model server for {route.name!r} is healthy; "
                          "try again shortly.", kind="server_error", headers={"retry-after": "5"})
        headers = [("content-type", "application/json"), ("x-request-id", ex.request_id),
                   ("accept", "text/event-stream" if ex.stream else "application/json")]
        if route.api_key:
            headers.append(("authorization", f"Bearer {route.api_key}"))
        timeouts = self.upstreams.timeouts
        failures: list[str] = []
        for upstream in candidates:
            path = upstream.spec.chat_path
            try:
                answer = await send_request(upstream.pool, "POST", path, headers, body, timeouts)
            except UpstreamFailure as exc:
                self.metrics.upstream_errors.labels(upstream.spec.url, exc.kind).inc()
                if exc.before_response:
                    self.upstreams.mark(upstream, False, str(exc))
                    failures.append(f"{upstream.spec.url}: {exc.detail}")
                    continue
                ex.upstream = upstream.spec.url
                status = 504 if exc.kind == "timeout" else 502
                raise Refusal(status, f"upstream_{exc.kind}", f"The model server failed "
                              f"({exc.detail}).", kind="server_error") from exc
            return upstream, answer
        raise Refusal(502, "upstream_refused", f"Every model server for {route.name!r} refused "
                      f"the request ({'; '.join(failures)}).", kind="server_error")

    async def _whole(self, ex: Exchange, answer: UpstreamResponse) -> Response:
        try:
            body = await answer.read_all(_MAX_UPSTREAM_BODY)
        except UpstreamFailure as exc:
            return self._bad_upstream(ex, 502, f"upstream_{exc.kind}",
                                      f"The model server failed mid-answer ({exc.detail}).")
        ex.ttfb = time.perf_counter() - ex.started
        content_type = answer.content_type or "application/json"
        if answer.status == 200:
            if ex.stream:
                return self._bad_upstream(ex, 502, "upstream_garbage", "The model server "
                                          "answered a stream request without an event stream.",
                                          body)
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                parsed = None
            if not isinstance(parsed, dict):
                return self._bad_upstream(ex, 502, "upstream_garbage",
                                          "The model server's answer is not a JSON object.", body)
            ex.set_usage(parsed.get("usage"))
        else:
            ex.outcome = "upstream_error"
            ex.reason = f"upstream_{answer.status}"
        ex.status = answer.status
        ex.set_response(body)
        self.recorder.finish(ex)
        headers = {"x-request-id": ex.request_id}
        retry = answer.headers.get("retry-after")
        if retry is not None and answer.status in (429, 503):
            headers["retry-after"] = retry
        return Response(body, answer.status, headers=headers, media_type=content_type)

    def _bad_upstream(self, ex: Exchange, status: int, reason: str, message: str,
                      received: bytes = b"") -> Response:
        ex.status, ex.outcome, ex.reason, ex.detail = status, "upstream_error", reason, message
        body = error_body(message, "server_error", status)
        ex.set_response(body)
        if received:
            ex.detail = f"{message} It began: {received[:200].decode('utf-8', 'replace')!r}"
        self.recorder.finish(ex)
        return Response(body, status, headers={"x-request-id": ex.request_id},
                        media_type="application/json")
