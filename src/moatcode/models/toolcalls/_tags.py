"""Finding ``<tool_call>`` tags and handing each body to the family it belongs to.

Three families share the tag, and the first thing inside tells them apart:
``{`` or ``[`` is Hermes JSON, ``<function=`` is Qwen3-Coder, and a bare tool
name followed by ``<arg_key>`` (or the closing tag) is GLM. Anything else after
the tag is prose that mentions it and is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls import glm, hermes, qwen3_coder
from moatcode.models.toolcalls._scan import ends_inside
from moatcode.models.toolcalls.calls import Attempt, failed

OPEN = "<tool_call>"
_SPACE = re.compile(r"\s*")


def find_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    attempts: list[Attempt] = []
    cursor = 0
    while (start := text.find(OPEN, cursor)) >= 0:
        body = _SPACE.match(text, start + len(OPEN)).end()  # type: ignore[union-attr]
        found = _read(text, start, body, schemas)
        if not found:
            cursor = start + len(OPEN)
            continue
        attempts.extend(found)
        cursor = max(attempt.end for attempt in found)
    return attempts


def _read(
    text: str, start: int, body: int, schemas: Mapping[str, Mapping[str, Any]]
) -> list[Attempt]:
    if ends_inside(text, body, qwen3_coder.OPEN_FUNCTION):
        return [failed(start, len(text), hermes.FORMAT, None, f"cut off after {OPEN}")]
    if text[body] in "{[":
        return hermes.read_body(text, start, body)
    if text.startswith(qwen3_coder.OPEN_FUNCTION, body):
        attempt = qwen3_coder.read_function(text, start, body, schemas, wrapped=True)
        return [attempt] if attempt is not None else []
    if " " in text[start + len(OPEN) : body] and "\n" not in text[start + len(OPEN) : body]:
        return []  # GLM writes the name right after the tag: "<tool_call> 42" is prose
    attempt = glm.read_body(text, start, body, schemas)
    return [attempt] if attempt is not None else []
