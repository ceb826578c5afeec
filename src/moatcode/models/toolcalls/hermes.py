"""Hermes / Qwen2.5 calls: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

One JSON object per tag is the template's form; models also put a list, or
several objects, in one tag. Finding the tags is ``_tags.py``'s job, since
Qwen3-Coder and GLM use the same tag with other bodies.
"""

from __future__ import annotations

from moatcode.models.toolcalls._json import JSONError, decode_prefix
from moatcode.models.toolcalls._scan import skip_space
from moatcode.models.toolcalls._shape import guess_name, read_calls
from moatcode.models.toolcalls.calls import Attempt, failed, found

FORMAT = "hermes"
CLOSE = "</tool_call>"


def read_body(text: str, start: int, pos: int) -> list[Attempt]:
    """Read the JSON body at ``pos`` of the ``<tool_call>`` tag opened at ``start``."""
    shapes = []
    cursor = pos
    while True:
        try:
            value, cursor = decode_prefix(text, cursor)
        except JSONError as exc:
            close = text.find(CLOSE, pos)
            name = guess_name(text[pos : close if close >= 0 else len(text)])
            if close < 0:
                return [failed(start, len(text), FORMAT, name, f"cut off before {CLOSE}")]
            return [
                failed(
                    start, close + len(CLOSE), FORMAT, name, f"the call is not valid JSON: {exc}"
                )
            ]
        read = read_calls(value, strict=False)
        if read is None:
            close = text.find(CLOSE, cursor)
            end = close + len(CLOSE) if close >= 0 else len(text)
            return [
                failed(
                    start,
                    end,
                    FORMAT,
                    None,
                    'the tag holds no call object (expected {"name": ..., "arguments": {...}})',
                )
            ]
        shapes.extend(read)
        cursor = skip_space(text, cursor)
        if text.startswith(CLOSE, cursor):
            end = cursor + len(CLOSE)
            break
        if cursor < len(text) and text[cursor] in "{[":
            continue  # several objects in one tag
        close = text.find(CLOSE, cursor)
        if close < 0:
            name = shapes[0].name if shapes else None
            return [failed(start, len(text), FORMAT, name, f"cut off before {CLOSE}")]
        # Stray words after a complete object: the tag did close, so the call stands.
        end = close + len(CLOSE)
        break
    return [
        found(start, end, FORMAT, shape.name, shape.arguments)
        if shape.name is not None and shape.arguments is not None
        else failed(start, end, FORMAT, shape.name, shape.reason)
        for shape in shapes
    ]
