"""Server-sent events, as OpenAI-compatible servers stream them.

Only what chat completions use: ``data:`` lines joined until a blank line.
Comments (``:`` lines, which some servers send as keep-alives) and the other
standard fields are skipped. A line that is no SSE field at all (an HTML error
page sent as an event stream, say) raises ``SSEFormatError``: the spec would
ignore it, but from a chat server it means the server is not what we think.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

_FIELDS = frozenset({"data", "event", "id", "retry"})


class SSEFormatError(ValueError):
    pass


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """Yield the data of each event in ``lines`` (without the trailing newline)."""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field not in _FIELDS:
            raise SSEFormatError(f"not an event-stream line: {line[:80]!r}")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)
