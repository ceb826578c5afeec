"""The client's transport behind an ASGI ``send``, where writing to it directly is safe.

Relaying an event through ``send`` costs a task switch and a trip through the
server's response machinery per event; writing the chunk to the socket's
transport from the upstream connection's callback costs neither. That is
safe only when the server's own state cannot go wrong: uvicorn's httptools
protocol, after the response head went out with chunked framing, writes
nothing of its own until the last ``send``, which adds the terminating chunk.
Anything else (h11, another server, a middleware wrapping ``send``) gets
``None``, and the relay goes through ``send`` for every event.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.types import Send

_CYCLE = ("uvicorn.protocols.http.httptools_impl", "RequestResponseCycle")


def chunked_transport(send: Send) -> asyncio.WriteTransport | None:
    """The transport to write chunks to, once ``send`` has sent a chunked response head."""
    cycle: Any = getattr(send, "__self__", None)
    kind = type(cycle)
    if (kind.__module__, kind.__name__) != _CYCLE:
        return None
    try:
        ready = (cycle.response_started and cycle.chunked_encoding is True
                 and not cycle.response_complete and not cycle.disconnected)
        transport = cycle.transport
    except AttributeError:  # a uvicorn whose cycle no longer looks like this
        return None
    if not ready or transport.is_closing():
        return None
    return cast(asyncio.WriteTransport, transport)
