"""Calls written as JSON in a Markdown code fence, the habit of models never taught a format::

    ```json
    {"name": "read_file", "arguments": {"path": "a.py"}}
    ```

Any of the usual key spellings (``tool``/``args``, ``parameters``, the OpenAI
``function`` wrapper) and a list of calls are read. A fence counts only when
its whole body is one call or a list of calls with nothing but call keys, so
a JSON example in an explanation is left alone. A fence that opens with a
call but never closes was cut off.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moatcode.models.toolcalls._json import JSONError, decode
from moatcode.models.toolcalls._shape import guess_name, looks_like_call, read_calls
from moatcode.models.toolcalls.calls import Attempt, failed, found

FORMAT = "fenced"
_OPEN = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n", re.MULTILINE)
_LANGUAGES = frozenset(
    {"", "json", "json5", "jsonc", "tool", "tool_call", "tool_calls", "function_call", "functions"}
)


@dataclass(frozen=True)
class Fence:
    start: int
    end: int
    language: str
    body: str
    closed: bool


def find_fences(text: str) -> list[Fence]:
    """Every code fence; as in Markdown, one that never closes runs to the end."""
    fences: list[Fence] = []
    cursor = 0
    while (opening := _OPEN.search(text, cursor)) is not None:
        fence = opening.group("fence")
        close = _closing(fence[0], len(fence)).search(text, opening.end())
        end = close.end() if close else len(text)
        body = text[opening.end() : close.start() if close else len(text)]
        language = opening.group("lang").lower()
        fences.append(Fence(opening.start(), end, language, body, close is not None))
        cursor = end
    return fences


@functools.cache
def _closing(char: str, count: int) -> re.Pattern[str]:
    """A line of at least ``count`` of ``char`` and nothing else closes the fence."""
    return re.compile(rf"^[ \t]*{re.escape(char)}{{{count},}}[ \t]*$", re.MULTILINE)


def find_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    attempts: list[Attempt] = []
    for fence in find_fences(text):
        if fence.language in _LANGUAGES:
            attempts.extend(_read(fence))
    return attempts


def _read(fence: Fence) -> list[Attempt]:
    start, end, body = fence.start, fence.end, fence.body
    if body.lstrip()[:1] not in ("{", "["):
        return []
    try:
        value = decode(body)
    except JSONError as exc:
        if not looks_like_call(body):
            return []
        name = guess_name(body)
        if not fence.closed:
            return [failed(start, end, FORMAT, name, "cut off before the closing fence")]
        return [failed(start, end, FORMAT, name, f"the call is not valid JSON: {exc}")]
    shapes = read_calls(value, strict=True)
    if shapes is None:
        return []
    if not fence.closed:
        name = shapes[0].name
        return [failed(start, end, FORMAT, name, "cut off before the closing fence")]
    return [
        found(start, end, FORMAT, shape.name, shape.arguments)
        if shape.name is not None and shape.arguments is not None
        else failed(start, end, FORMAT, shape.name, shape.reason)
        for shape in shapes
    ]
