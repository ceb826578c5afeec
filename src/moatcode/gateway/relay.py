"""The response that relays one upstream event stream to the client, and accounts for it.

Each read from the model server is cut at the last complete event and sent on
at once (``sse.SseRelay``); nothing waits to fill a buffer. The response head
goes out with the first event. How the stream ended goes into the audit
record: normally, the upstream sending garbage or dropping the connection
(the client then gets a well-formed error event), the client going away (the
upstream connection is closed, which stops the generation), or the gateway
shutting down before the stream ended.

The per-event path is the cost that matters when hundreds of streams are
open (each one an event every few tens of milliseconds), so it runs in the
upstream connection's read callback (``_Pump``): decode, check, write the
chunk to the client's transport. No task is woken and no coroutine resumed
per event. The response's coroutine only sends the head with the first
event, waits while the client is slower than the server (the upstream is
not read meanwhile), and ends the response. Where the server gives no safe
transport (``_asgi_transport``), each event goes through ``send`` instead,
reading the upstream one read at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from moatcode.gateway._asgi_transport import chunked_transport
from moatcode.gateway.exchange import Exchange, Recorder
from moatcode.gateway.metrics import GatewayMetrics
from moatcode.gateway.sse import SseRelay, error_event
from moatcode.gateway.upstream_http import UpstreamFailure, UpstreamResponse

_SSE = b"text/event-stream; charset=utf-8"


class _Pump:
    """Receives the upstream body in the connection's callbacks and forwards whole events."""

    def __init__(self, answer: UpstreamResponse, store: bool) -> None:
        self.answer = answer
        self.sse = SseRelay()
        self.store = store
        self.kept: list[bytes] = []  # what the client was sent (with store_bodies)
        self.digest = hashlib.sha256()  # of the same (without)
        self.size = 0
        self.first_at: float | None = None
        self.pending: list[bytes] = []  # events for the coroutine to send
        self.transport: asyncio.WriteTransport | None = None  # set: write events directly
        self.high_water = 0
        self.stalled = False  # the client's buffer is full; the upstream is not read
        self.ended = False
        self.failure: UpstreamFailure | None = None
        self.client_gone = False
        self._signalled = False
        self._waiter: asyncio.Future[None] | None = None

    def write_directly(self, transport: asyncio.WriteTransport) -> None:
        self.transport = transport
        self.high_water = transport.get_write_buffer_limits()[1]

    # -- the upstream connection's callbacks (BodySink) --

    def body(self, data: bytes) -> None:
        out = self.sse.feed(data)
        if out:
            self._forward(out)
        if self.sse.problem is not None and not self.ended:
            self.stop()

    def end(self, failure: UpstreamFailure | None) -> None:
        if failure is None:
            out = self.sse.finish()
            if out:
                self._forward(out)
        self.failure = failure
        self.ended = True
        self._wake()

    def account(self, out: bytes) -> None:
        """Count bytes the client is sent, for the audit record."""
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.size += len(out)
        if self.store:
            self.kept.append(out)
        else:
            self.digest.update(out)

    def _forward(self, out: bytes) -> None:
        self.account(out)
        transport = self.transport
        if transport is None:
            self.pending.append(out)
            self.answer.pause_reading()  # until the coroutine has sent it
            self._wake()
        elif transport.is_closing():
            self.client_gone = True
            self.stop()
        else:
            transport.write(b"%x\r\n%b\r\n" % (len(out), out))
            if transport.get_write_buffer_size() > self.high_water:
                # The server paused writing to this client; its next send waits for a drain.
                self.stalled = True
                self.answer.pause_reading()
                self._wake()

    # -- the coroutine's side --

    def stop(self) -> None:
        """Drop the upstream (garbage, or the client went away); nothing more is forwarded."""
        self.ended = True
        self.answer.abort()
        self._wake()

    def account_to(self, ex: Exchange) -> None:
        """Put what the client was sent into the exchange's record."""
        if self.first_at is not None:
            ex.ttfb = self.first_at - ex.started
        ex.response_bytes = self.size
        if self.store:
            ex.set_response(b"".join(self.kept))
        else:
            ex.response_sha256 = self.digest.hexdigest()
        ex.set_usage(self.sse.usage)

    async def wait(self) -> None:
        """Until there is something to send, a stall, or the end."""
        if not self._signalled:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._signalled = False

    def _wake(self) -> None:
        self._signalled = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class StreamRelay(Response):
    """The ASGI response that relays one upstream event stream to the client."""

    def __init__(self, ex: Exchange, answer: UpstreamResponse, recorder: Recorder,
                 metrics: GatewayMetrics) -> None:
        self.status_code = 200
        self.background = None
        self._ex = ex
        self._recorder = recorder
        self._metrics = metrics
        self._pump = _Pump(answer, recorder.store_bodies)
        self._finished = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex, pump = self._ex, self._pump
        answer = pump.answer
        watch = asyncio.ensure_future(receive())
        watch.add_done_callback(self._on_receive)
        head: Message = {"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", _SSE), (b"cache-control", b"no-cache"),
            (b"x-request-id", ex.request_id.encode())]}
        ex.status = 200
        self._metrics.active_streams.inc()
        try:
            # The head goes out now, so the first event can follow from the read callback
            # that brings it, without waiting for this coroutine's next turn.
            await send(head)
            transport = chunked_transport(send)
            if transport is not None:
                pump.write_directly(transport)
            answer.pipe(pump)
            while True:
                await pump.wait()
                if pump.pending and not pump.client_gone:
                    out = b"".join(pump.pending)
                    pump.pending.clear()
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                    answer.resume_reading()
                if pump.ended:
                    break
                if pump.stalled:
                    await send({"type": "http.response.body", "body": b"", "more_body": True})
                    pump.stalled = False
                    answer.resume_reading()
            tail = self._ending()
            self._finished = True
            if pump.client_gone:
                if not watch.done():
                    # The transport is closing; let the server see the disconnect first.
                    await asyncio.wait((watch,), timeout=1.0)
            else:
                if tail:
                    pump.account(tail)
                await send({"type": "http.response.body", "body": tail, "more_body": False})
        except asyncio.CancelledError:
            # The server gave up waiting for this stream at shutdown.
            ex.outcome, ex.reason = "cancelled", "shutdown"
            ex.detail = "The gateway stopped before the stream ended."
            pump.stop()
            raise
        finally:
            self._finished = True
            self._metrics.active_streams.dec()
            if not watch.done():
                watch.cancel()
            pump.account_to(ex)
            self._recorder.finish(ex)

    def _ending(self) -> bytes:
        """The closing bytes for the client, and what the record says about the ending."""
        ex, pump = self._ex, self._pump
        relay, failure = pump.sse, pump.failure
        if pump.client_gone:
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
            self._pump.client_gone = True
            self._pump.stop()
