"""GLM-4.5 / 4.6 / 4.7 calls: the tool name, then key and value tags::

    <tool_call>read_file
    <arg_key>path</arg_key>
    <arg_value>src/app.py</arg_value>
    </tool_call>

GLM-4.5/4.6 put a newline after the name and between tags; 4.7 writes them
without. Values are text (the template writes non-strings as JSON), typed by
``_coerce`` like Qwen3-Coder's, and kept verbatim: unlike Qwen3-Coder's, the
template puts no newline inside the value tags, so none is stripped. A value
may contain ``</arg_value>``: a closing tag ends it only when ``<arg_key>`` or
``</tool_call>`` follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls._coerce import coerce, parameter_schema
from moatcode.models.toolcalls._scan import ends_inside
from moatcode.models.toolcalls.calls import Attempt, failed, found

FORMAT = "glm"
_CLOSE = "</tool_call>"
_NAME = re.compile(r"([\w.\-:/]+)[ \t]*")
# What must follow the name for this to be a GLM call at all.
_AFTER_NAME = ("\n", "<arg_key>", _CLOSE)
_SPACE = re.compile(r"\s*")
_KEY = re.compile(r"<arg_key>(.*?)</arg_key>\s*", re.DOTALL)
_VALUE_END = re.compile(r"</arg_value>\s*(?=<arg_key>|</tool_call>)")


def read_body(
    text: str, start: int, pos: int, schemas: Mapping[str, Mapping[str, Any]]
) -> Attempt | None:
    """Read a GLM body at ``pos`` in a ``<tool_call>`` tag opened at ``start``.

    None when the text at ``pos`` is not a tool name followed by a GLM tag.
    """
    head = _NAME.match(text, pos)
    if head is None or not (
        text.startswith(_AFTER_NAME, head.end()) or ends_inside(text, head.end(), *_AFTER_NAME)
    ):
        return None
    name = head.group(1)
    cursor = _SPACE.match(text, head.end()).end()  # type: ignore[union-attr]
    if not text.startswith(("<arg_key>", _CLOSE), cursor) and not ends_inside(
        text, cursor, "<arg_key>", _CLOSE
    ):
        return None  # a word and a newline of prose after a mentioned tag
    arguments: dict[str, Any] = {}
    while True:
        if ends_inside(text, cursor, "<arg_key>", _CLOSE):
            return failed(start, len(text), FORMAT, name, f"cut off before {_CLOSE}")
        if text.startswith(_CLOSE, cursor):
            return found(start, cursor + len(_CLOSE), FORMAT, name, arguments)
        key = _KEY.match(text, cursor)
        if key is None or not text.startswith("<arg_value>", key.end()):
            close = text.find(_CLOSE, cursor)
            if key is None and text.startswith("<arg_key>", cursor) and close < 0:
                return failed(start, len(text), FORMAT, name, f"cut off before {_CLOSE}")
            if close < 0:
                return failed(start, len(text), FORMAT, name, f"cut off before {_CLOSE}")
            return failed(
                start,
                close + len(_CLOSE),
                FORMAT,
                name,
                "expected <arg_key>KEY</arg_key><arg_value>VALUE</arg_value> pairs",
            )
        value_start = key.end() + len("<arg_value>")
        end = _VALUE_END.search(text, value_start)
        if end is None:
            return failed(start, len(text), FORMAT, name, f"cut off before {_CLOSE}")
        parameter = key.group(1).strip()
        raw = text[value_start : end.start()]
        arguments[parameter] = coerce(raw, parameter_schema(schemas, name, parameter))
        cursor = end.end()
