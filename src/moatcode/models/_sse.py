"""Server-sent events, as OpenAI-compatible servers stream them.

Only what chat completions use: ``data:`` lines joined until a blank line.
Comments (``:`` lines, which some servers send as keep-alives) and the other
fields are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


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
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)
