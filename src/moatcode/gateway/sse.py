"""Relaying a server-sent event stream: whole events only, checked, usage picked out.

The gateway forwards a model server's stream as it arrives, but only up to
the last complete event (a blank line): a client can do nothing with half an
event, and cutting there means the client never sees half of one if the
upstream breaks. Each event is checked cheaply (its data is a JSON object or
``[DONE]``), so an upstream that starts sending an HTML error page or other
garbage is caught before the garbage reaches the client, which gets a
well-formed error event instead. The ``usage`` object, which OpenAI-compatible
servers send in the last chunk when asked, is parsed out for quotas and the
audit; nothing else is parsed.
"""

from __future__ import annotations

import json
from typing import Any

_FIELDS = (b"data:", b":", b"event:", b"id:", b"retry:")


def error_event(message: str, kind: str = "upstream_error", code: int = 502) -> bytes:
    """An SSE event carrying an OpenAI-style error object."""
    body = {"error": {"message": message, "type": kind, "code": code}}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


class SseRelay:
    """Feed it upstream bytes; it returns the bytes to forward, whole events only."""

    def __init__(self) -> None:
        self._pending = b""
        self.usage: dict[str, Any] | None = None
        self.events = 0
        self.done = False  # saw data: [DONE]
        self.error_event = False  # the upstream itself sent an error event
        self.problem: str | None = None  # set once garbage is seen; nothing more is forwarded

    def feed(self, data: bytes) -> bytes:
        if self.problem is not None:
            return b""
        buf = self._pending + data if self._pending else data
        cut = _last_boundary(buf)
        if cut < 0:
            self._pending = buf
            if len(buf) > 1 << 20:
                self.problem = "an event over 1 MiB without an end"
            return b""
        ready, self._pending = buf[:cut], buf[cut:]
        return self._check(ready)

    def finish(self) -> bytes:
        """At a clean end of stream: forward a last event that lacks its blank line."""
        rest, self._pending = self._pending, b""
        if self.problem is not None or not rest.strip():
            return b""
        return self._check(rest.rstrip(b"\r\n") + b"\n\n")

    def _check(self, ready: bytes) -> bytes:
        if ready.count(b"\n") == 2 and b"\r" not in ready:
            # One event of one line, as a model server most often flushes it.
            if len(ready) == 2 or self._event_ok(ready[:-2]):
                return ready
            self.problem = "the model server sent something that is not an event stream"
            return b""
        text = ready.replace(b"\r\n", b"\n") if b"\r" in ready else ready
        events = text.split(b"\n\n")
        for index, event in enumerate(events):
            event = event.strip(b"\n")
            if not event:
                continue
            if not self._event_ok(event):
                self.problem = "the model server sent something that is not an event stream"
                good = b"\n\n".join(e for e in events[:index] if e.strip(b"\n"))
                return good + b"\n\n" if good else b""
        return ready

    def _event_ok(self, event: bytes) -> bool:
        self.events += 1
        if event.startswith((b"data: {", b"data:{")) and event.endswith(b"}"):
            if _has_usage(event) or event.startswith((b'data: {"error"', b'data:{"error"')):
                return self._parse(event)
            return True
        if event in (b"data: [DONE]", b"data:[DONE]"):
            self.done = True
            return True
        return self._event_lines_ok(event)

    def _event_lines_ok(self, event: bytes) -> bool:
        data: list[bytes] = []
        for line in event.split(b"\n"):
            if not line.startswith(_FIELDS):
                return False
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
        payload = b"\n".join(data)
        if not data or payload.startswith(b"[DONE]"):
            self.done = self.done or payload.startswith(b"[DONE]")
            return True
        return self._parse(b"data: " + payload)

    def _parse(self, event: bytes) -> bool:
        try:
            value = json.loads(event[5:])
        except ValueError:
            return False
        if not isinstance(value, dict):
            return False
        usage = value.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        if "error" in value:
            self.error_event = True
        return True


def _has_usage(event: bytes) -> bool:
    """Whether the event carries a usage object (servers send ``"usage":null`` in others)."""
    at = event.find(b'"usage"')
    return at >= 0 and event[at + 7:at + 12].lstrip(b" :")[:1] == b"{"


def _last_boundary(buf: bytes) -> int:
    """The end of the last complete event in ``buf``, or -1."""
    lf = buf.rfind(b"\n\n")
    crlf = buf.rfind(b"\r\n\r\n")
    end = max(lf + 2 if lf >= 0 else -1, crlf + 4 if crlf >= 0 else -1)
    return end
