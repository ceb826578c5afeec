"""Qwen3-Coder calls, the XML form that needs no JSON escaping::

    <tool_call>
    <function=write_file>
    <parameter=path>
    src/app.py
    </parameter>
    <parameter=content>
    print("hi")
    </parameter>
    </function>
    </tool_call>

Values are kept verbatim except for exactly one newline stripped at each end
(the template puts them there), then typed by ``_coerce``. A value may itself
contain ``</parameter>``: a closing tag ends the value only when the next tag
(``<parameter=``, ``</function>``, ``</tool_call>``) follows it. Models also
drop the ``<tool_call>`` wrapper, and now and then a ``</parameter>``.

This is also Moat's own text protocol (see ``text_protocol.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls._coerce import coerce, parameter_schema
from moatcode.models.toolcalls._scan import ends_inside
from moatcode.models.toolcalls.calls import Attempt, failed, found

FORMAT = "qwen3_coder"
OPEN_FUNCTION = "<function="
_WRAP_CLOSE = "</tool_call>"
_FUNCTION_CLOSE = "</function>"
_PARAM_CLOSE = "</parameter>"

# Names are short; the bound keeps a text full of unclosed tags linear.
_FUNCTION_TAG = re.compile(r"<function=([^>\n]{0,256})>")
_PARTIAL_FUNCTION_TAG = re.compile(r"<function=[^>\n]{0,256}\Z")
_PARAM_TAG = re.compile(r"<parameter=([^>\n]{0,256})>")
_LINE_PARAM_TAG = re.compile(r"\n<parameter=[^>\n]*>\n")
_SPACE = re.compile(r"\s*")
_NEXT_TAG_WRAPPED = re.compile(r"<parameter=|</function>|</tool_call>")
_NEXT_TAG_BARE = re.compile(r"<parameter=|</function>")
_TAGS_AFTER_FUNCTION = ("<parameter=", _FUNCTION_CLOSE)
_VALUE_END_WRAPPED = re.compile(r"</parameter>\s*(?=<parameter=|</function>|</tool_call>)")
_VALUE_END_BARE = re.compile(r"</parameter>\s*(?=<parameter=|</function>)")


def find_bare_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    """Calls written as ``<function=...>`` without the ``<tool_call>`` wrapper."""
    attempts: list[Attempt] = []
    cursor = 0
    while (pos := text.find(OPEN_FUNCTION, cursor)) >= 0:
        attempt = read_function(text, pos, pos, schemas, wrapped=False)
        if attempt is None:
            cursor = pos + len(OPEN_FUNCTION)
            continue
        attempts.append(attempt)
        cursor = attempt.end
    return attempts


def read_function(
    text: str,
    start: int,
    pos: int,
    schemas: Mapping[str, Mapping[str, Any]],
    *,
    wrapped: bool,
) -> Attempt | None:
    """Read ``<function=NAME>...</function>`` at ``pos``; the call's markup began at ``start``.

    None when the text at ``pos`` is prose that only mentions the tag.
    """
    tag = _FUNCTION_TAG.match(text, pos)
    if tag is None:
        if _PARTIAL_FUNCTION_TAG.match(text, pos):
            return failed(start, len(text), FORMAT, None, "cut off inside <function=...>")
        if wrapped:
            return _fail_at_close(text, start, wrapped, None, "the <function=...> tag is unclosed")
        return None
    name = tag.group(1).strip().strip("\"'")
    next_tag = _NEXT_TAG_WRAPPED if wrapped else _NEXT_TAG_BARE
    cursor = _SPACE.match(text, tag.end()).end()  # type: ignore[union-attr]
    if (
        not wrapped
        and not next_tag.match(text, cursor)
        and not ends_inside(text, cursor, *_TAGS_AFTER_FUNCTION)
    ):
        return None  # "<function=NAME>" followed by prose: a mention, not a call
    if not name:
        return _fail_at_close(text, start, wrapped, None, "the function tag names no tool")
    arguments: dict[str, Any] = {}
    value_end = _VALUE_END_WRAPPED if wrapped else _VALUE_END_BARE
    while True:
        if cursor >= len(text):
            closer = _WRAP_CLOSE if wrapped else _FUNCTION_CLOSE
            return failed(start, len(text), FORMAT, name, f"cut off before {closer}")
        if text.startswith(_FUNCTION_CLOSE, cursor):
            cursor += len(_FUNCTION_CLOSE)
            break
        if wrapped and text.startswith(_WRAP_CLOSE, cursor):
            # The model closed the call but forgot </function>: it is complete.
            return found(start, cursor + len(_WRAP_CLOSE), FORMAT, name, arguments)
        param = _PARAM_TAG.match(text, cursor)
        if param is None:
            if text.startswith("<parameter=", cursor) or ends_inside(text, cursor, "<parameter="):
                return _fail_at_close(
                    text, start, wrapped, name, "a <parameter=...> tag is cut off or unclosed"
                )
            # Stray words between parameters: skip to the next tag.
            following = next_tag.search(text, cursor)
            if following is None:
                return failed(start, len(text), FORMAT, name, f"cut off before {_FUNCTION_CLOSE}")
            cursor = following.start()
            continue
        key = param.group(1).strip().strip("\"'")
        end = value_end.search(text, param.end())
        if end is not None:
            raw, cursor = text[param.end() : end.start()], end.end()
            dropped = _dropped_close(raw)
            if dropped is not None:
                raw, cursor = raw[:dropped], param.end() + dropped + 1
        else:
            # Never guess where an unclosed value ends: were the text cut
            # inside it, a guess would run the call with half a value.
            return _fail_at_close(
                text, start, wrapped, name, f"<parameter={key}> is not closed with {_PARAM_CLOSE}"
            )
        arguments[key] = coerce(_strip_one_newline(raw), parameter_schema(schemas, name, key))
    if not wrapped:
        return found(start, cursor, FORMAT, name, arguments)
    cursor = _SPACE.match(text, cursor).end()  # type: ignore[union-attr]
    if text.startswith(_WRAP_CLOSE, cursor):
        return found(start, cursor + len(_WRAP_CLOSE), FORMAT, name, arguments)
    if cursor >= len(text):
        return failed(start, len(text), FORMAT, name, f"cut off before {_WRAP_CLOSE}")
    return _fail_at_close(
        text, start, wrapped, name, f"unexpected text between {_FUNCTION_CLOSE} and {_WRAP_CLOSE}"
    )


def _dropped_close(raw: str) -> int | None:
    """Where a value ends whose ``</parameter>`` the model left out, or None.

    That is the case when the value holds a template-style ``<parameter=...>``
    line and no closing tag at all: a value quoting the format would carry its
    closing tags too.
    """
    if _PARAM_CLOSE in raw:
        return None
    line = _LINE_PARAM_TAG.search(raw)
    return line.start() if line is not None else None


def _fail_at_close(text: str, start: int, wrapped: bool, name: str | None, reason: str) -> Attempt:
    closer = _WRAP_CLOSE if wrapped else _FUNCTION_CLOSE
    close = text.find(closer, start)
    if close < 0:
        return failed(start, len(text), FORMAT, name, f"cut off before {closer}")
    return failed(start, close + len(closer), FORMAT, name, reason)


def _strip_one_newline(value: str) -> str:
    return value.removeprefix("\n").removesuffix("\n")
