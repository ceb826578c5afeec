"""The response that relays one upstream event stream to the client, and accounts for it.

Each read from the model server is cut at the last complete event and sent on
at once (``sse.SseRelay``); nothing waits to fill a buffer. The response head
goes out with the first event, so the client is woken once, not twice. How
the stream ended goes into the audit record: normally, the upstream sending
garbage or dropping the connection (the client then gets a well-formed error
event), the client going away (the upstream connection is closed, which stops
the generation), or the gateway shutting down before the stream ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from moatcode.gateway.exchange import Exchange, Recorder
from moatcode.gateway.metrics import GatewayMetrics
from moatcode.gateway.sse import SseRelay, error_event
from moatcode.gateway.upstream_http import UpstreamFailure, UpstreamResponse

_SSE = b"text/event-stream; charset=utf-8"


class StreamRelay(Response):
    """The ASGI response that relays one upstream event stream to the client."""

    def __init__(self, ex: Exchange, answer: UpstreamResponse, recorder: Recorder,
                 metrics: GatewayMetrics) -> None:
        self.status_code = 200
        self.background = None
        self._ex = ex
        self._answer = answer
        self._recorder = recorder
        self._metrics = metrics
        self._finished = False
        self._client_gone = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex, answer, metrics = self._ex, self._answer, self._metrics
        watch = asyncio.ensure_future(receive())
        watch.add_done_callback(self._on_receive)
        relay = SseRelay()
        digest = hashlib.sha256()
        store = self._recorder.store_bodies
        kept: list[bytes] = []
        size = 0
        started = False
        ex.status = 200
        metrics.active_streams.inc()

        async def forward(out: bytes, more: bool = True) -> None:
            nonlocal size, started
            if not started:
                # The head goes out with the first event: one wake-up of the client, not two.
                started = True
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", _SSE), (b"cache-control", b"no-cache"),
                    (b"x-request-id", ex.request_id.encode())]})
            if out:
                if ex.ttfb is None:
                    ex.ttfb = time.perf_counter() - ex.started
                digest.update(out)
                size += len(out)
                if store:
                    kept.append(out)
            await send({"type": "http.response.body", "body": out, "more_body": more})

        try:
            failure: UpstreamFailure | None = None
            try:
                async with contextlib.aclosing(answer.chunks()) as chunks:
                    async for payload in chunks:
                        out = relay.feed(payload)
                        if out:
                            await forward(out)
                        if relay.problem is not None:
                            answer.abort()
                            break
                    else:
                        out = relay.finish()
                        if out:
                            await forward(out)
            except UpstreamFailure as exc:
                failure = exc
            tail = self._ending(relay, failure)
            self._finished = True
            await forward(b"" if self._client_gone else tail, more=False)
        except asyncio.CancelledError:
            # The server gave up waiting for this stream at shutdown.
            ex.outcome, ex.reason = "cancelled", "shutdown"
            ex.detail = "The gateway stopped before the stream ended."
            answer.abort()
            raise
        finally:
            self._finished = True
            metrics.active_streams.dec()
            if not watch.done():
                watch.cancel()
            ex.response_bytes = size
            ex.response_sha256 = digest.hexdigest()
            ex.response_body = b"".join(kept) if store else None
            ex.set_usage(relay.usage)
            self._recorder.finish(ex)

    def _ending(self, relay: SseRelay, failure: UpstreamFailure | None) -> bytes:
        """The closing bytes for the client, and what the record says about the ending."""
        ex = self._ex
        if self._client_gone:
            ex.outcome, ex.reason = "client_disconnected", "client_disconnected"
            ex.detail = "The client went away before the stream ended."
            return b""
        if relay.problem is not None:
            ex.outcome, ex.reason, ex.detail = "upstream_error", "upstream_garbage", relay.problem
            return error_event("The model server sent an answer the gateway cannot read; "
                               "try again.")
        if failure is not None:
            ex.outcome, ex.reason = "upstream_error", f"upstream_{failure.kind}"
            ex.detail = f"The model server's stream broke ({failure.detail})."
            return error_event("The model server dropped the stream before it ended; try "
                               "again.")
        if relay.error_event:
            ex.outcome, ex.reason = "upstream_error", "upstream_error_event"
            ex.detail = "The model server sent an error event."
        return b""

    def _on_receive(self, task: asyncio.Future[Message]) -> None:
        if self._finished or task.cancelled() or task.exception() is not None:
            return
        if task.result().get("type") == "http.disconnect":
            self._client_gone = True
            self._answer.abort()
