"""One request as the gateway accounts for it, and where that account goes when it ends.

An ``Exchange`` is filled in as a request goes through the gateway; when it
ends, ``Recorder.finish`` turns it into one audit record (queued for the
database thread), the metrics and one JSON access-log line. Refusals end the
same way, so every refusal is audited with its reason.

The record's ``data`` holds only integers and strings (latencies in
microseconds), which keeps its canonical JSON on the fast path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from typing import Any

from moatcode.gateway.metrics import Children, GatewayMetrics
from moatcode.gateway.quotas import QuotaBook, usage_increments
from moatcode.gateway.worker import DbWorker, PendingRecord

log = logging.getLogger("moatcode.gateway.access")

REQUEST_KIND = "gateway_request"
_TIME = "%Y-%m-%dT%H:%M:%S"


def error_body(message: str, kind: str, code: int | str) -> bytes:
    """An OpenAI-style error object."""
    return json.dumps({"error": {"message": message, "type": kind, "code": code}},
                      separators=(",", ":")).encode()


class Exchange:
    """The account of one request, filled in as it goes."""

    __slots__ = (
        "client", "completion_tokens", "detail", "model", "outcome", "prompt_tokens", "reason",
        "request_body", "request_bytes", "request_id", "request_sha256", "resolved",
        "response_body", "response_bytes", "response_sha256", "route", "started", "status",
        "stream", "team", "token_id", "ttfb", "upstream", "user", "wall",
    )

    def __init__(self, route: str, client: str) -> None:
        self.request_id = secrets.token_hex(12)
        self.route = route
        self.client = client
        self.started = time.perf_counter()
        self.wall = time.time()
        self.user = ""
        self.team = ""
        self.token_id = ""
        self.model = ""
        self.resolved = ""
        self.upstream = ""
        self.stream = False
        self.status = 0
        self.outcome = "ok"
        self.reason = ""
        self.detail = ""
        self.request_bytes = 0
        self.response_bytes = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.ttfb: float | None = None
        self.request_sha256 = ""
        self.response_sha256 = ""
        self.request_body: bytes | None = None
        self.response_body: bytes | None = None

    def set_request(self, body: bytes) -> None:
        self.request_bytes = len(body)
        self.request_sha256 = hashlib.sha256(body).hexdigest()
        self.request_body = body

    def set_response(self, body: bytes) -> None:
        self.response_bytes = len(body)
        self.response_sha256 = hashlib.sha256(body).hexdigest()
        self.response_body = body

    def set_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) and not isinstance(prompt, bool) and prompt >= 0:
            self.prompt_tokens = prompt
        if isinstance(completion, int) and not isinstance(completion, bool) and completion >= 0:
            self.completion_tokens = completion

    def refuse(self, status: int, reason: str, detail: str) -> None:
        self.status = status
        self.outcome = "refused"
        self.reason = reason
        self.detail = detail

    def data(self, store_bodies: bool) -> dict[str, Any]:
        now = time.perf_counter()
        data: dict[str, Any] = {
            "request_id": self.request_id, "route": self.route, "client": self.client,
            "user": self.user, "team": self.team, "token_id": self.token_id,
            "model": self.model, "resolved_model": self.resolved, "upstream": self.upstream,
            "stream": self.stream, "status": self.status, "outcome": self.outcome,
            "reason": self.reason, "detail": self.detail,
            "request_bytes": self.request_bytes, "response_bytes": self.response_bytes,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "latency_us": int((now - self.started) * 1e6),
            "ttfb_us": int(self.ttfb * 1e6) if self.ttfb is not None else None,
            "request_sha256": self.request_sha256, "response_sha256": self.response_sha256,
        }
        if store_bodies:
            data["request_body"] = _text(self.request_body)
            data["response_body"] = _text(self.response_body)
        return data


def _text(body: bytes | None) -> str | None:
    return None if body is None else body.decode("utf-8", "replace")


class Recorder:
    """Ends exchanges: audit record, metrics, access log."""

    def __init__(self, worker: DbWorker, quotas: QuotaBook, metrics: GatewayMetrics, *,
                 store_bodies: bool, access_log: bool) -> None:
        self.worker = worker
        self.quotas = quotas
        self.metrics = metrics
        self.store_bodies = store_bodies
        self.access_log = access_log
        self._requests = Children(metrics.requests)
        self._refusals = Children(metrics.refusals)
        self._tokens = Children(metrics.tokens)
        self._latency = Children(metrics.latency)
        self._ttfb = Children(metrics.ttfb)
        self._second = -1
        self._second_text = ""

    def finish(self, ex: Exchange) -> None:
        data = ex.data(self.store_bodies)
        tokens = ex.prompt_tokens + ex.completion_tokens
        increments = usage_increments(ex.user, ex.team, tokens, ex.wall) if ex.user else {}
        if increments:
            self.quotas.add_unwritten(increments)
        self.worker.submit(PendingRecord(ex.request_id, self._at(ex.wall), "", REQUEST_KIND,
                                         data, increments))
        # The model label is the configured name it resolved to, never the one a client
        # sent: made-up names would each make a new series.
        model = ex.resolved
        self._requests(ex.route, model, str(ex.status)).inc()
        if ex.reason:
            self._refusals(ex.reason).inc()
        if tokens:
            self._tokens(model, "prompt").inc(ex.prompt_tokens)
            self._tokens(model, "completion").inc(ex.completion_tokens)
        stream = "true" if ex.stream else "false"
        self._latency(ex.route, stream).observe(data["latency_us"] / 1e6)
        if ex.ttfb is not None:
            self._ttfb(stream).observe(ex.ttfb)
        if self.access_log and log.isEnabledFor(logging.INFO):
            # makeRecord and handle: what log.info does, less finding the caller's line.
            log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "%s %s %d", (
                ex.route, ex.outcome, ex.status), None, extra={
                "request_id": ex.request_id, "user": ex.user, "team": ex.team,
                "token_id": ex.token_id, "model": ex.resolved or ex.model,
                "upstream": ex.upstream, "status": ex.status, "outcome": ex.outcome,
                "reason": ex.reason, "latency_ms": round(data["latency_us"] / 1000, 3),
                "stream": ex.stream, "request_bytes": ex.request_bytes,
                "response_bytes": ex.response_bytes, "prompt_tokens": ex.prompt_tokens,
                "completion_tokens": ex.completion_tokens, "client": ex.client,
            }))

    def _at(self, wall: float) -> str:
        """The record's ``at``; the formatted second is reused while it lasts."""
        second = int(wall)
        if second != self._second:
            self._second, self._second_text = second, time.strftime(_TIME, time.gmtime(second))
        return f"{self._second_text}.{int(wall % 1 * 1e6):06d}Z"
