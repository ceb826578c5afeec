"""Mistral calls after the ``[TOOL_CALLS]`` token, in both generations.

Before tokenizer v11 (Mistral 7B v0.3, Nemo, Small 22B) one token opens a
JSON list::

    [TOOL_CALLS][{"name": "read_file", "arguments": {"path": "a.py"}, "id": "a1b2c3d4e"}]

From v11 (Small 3.1+, Devstral, Magistral) each call has its own token, the
name, optionally ``[CALL_ID]id``, then ``[ARGS]`` and a JSON object::

    [TOOL_CALLS]read_file[ARGS]{"path": "a.py"}[TOOL_CALLS]grep[ARGS]{"pattern": "x"}

Servers that drop the ``[ARGS]`` control token leave ``name{...}``; that is read too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls._json import JSONError, decode_prefix
from moatcode.models.toolcalls._scan import ends_inside
from moatcode.models.toolcalls._shape import guess_name, looks_like_call, read_calls
from moatcode.models.toolcalls.calls import Attempt, failed, found

FORMAT = "mistral"
TOKEN = "[TOOL_CALLS]"
_ARGS = "[ARGS]"
_CALL_ID = "[CALL_ID]"
_SPACE = re.compile(r"\s*")
_NAME = re.compile(r"[^\s\[\]{}<>\"']+")
_CALL_ID_VALUE = re.compile(r"\[CALL_ID\]\s*[\w-]*\s*")


def find_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    attempts: list[Attempt] = []
    cursor = 0
    while (start := text.find(TOKEN, cursor)) >= 0:
        found_here = _read(text, start)
        if not found_here:
            cursor = start + len(TOKEN)
            continue
        attempts.extend(found_here)
        cursor = max(attempt.end for attempt in found_here)
    return attempts


def _read(text: str, start: int) -> list[Attempt]:
    pos = _SPACE.match(text, start + len(TOKEN)).end()  # type: ignore[union-attr]
    if pos >= len(text):
        return [failed(start, len(text), FORMAT, None, f"cut off after {TOKEN}")]
    if text[pos] in "[{":
        return _read_json(text, start, pos)
    name = _NAME.match(text, pos)
    if name is None:
        return []
    cursor = name.end()
    if cursor >= len(text):
        return [failed(start, len(text), FORMAT, name.group(), "cut off after the tool name")]
    call_id = _CALL_ID_VALUE.match(text, cursor)
    if call_id is not None:
        cursor = call_id.end()
    if text.startswith(_ARGS, cursor):
        cursor = _SPACE.match(text, cursor + len(_ARGS)).end()  # type: ignore[union-attr]
    elif ends_inside(text, cursor, _ARGS, _CALL_ID):
        return [failed(start, len(text), FORMAT, name.group(), "cut off after the tool name")]
    if cursor >= len(text):
        return [failed(start, len(text), FORMAT, name.group(), f"cut off after {_ARGS}")]
    if text[cursor] != "{":
        return []  # "[TOOL_CALLS] is Mistral's token": prose, not a call
    try:
        value, end = decode_prefix(text, cursor)
    except JSONError as exc:
        stop = _next_token(text, cursor)
        reason = (
            "cut off before the arguments' JSON closes"
            if exc.truncated and stop == len(text)
            else f"the arguments are not valid JSON: {exc}"
        )
        return [failed(start, stop, FORMAT, name.group(), reason)]
    if not isinstance(value, dict):
        return [failed(start, end, FORMAT, name.group(), "the arguments are not a JSON object")]
    return [found(start, end, FORMAT, name.group(), value)]


def _read_json(text: str, start: int, pos: int) -> list[Attempt]:
    try:
        value, end = decode_prefix(text, pos)
    except JSONError as exc:
        stop = _next_token(text, pos)
        name = guess_name(text[pos:stop])
        if exc.truncated and stop == len(text):
            return [failed(start, stop, FORMAT, name, "cut off before the call list closes")]
        if not looks_like_call(text, pos):
            return []  # "[TOOL_CALLS] [sic]": not the start of a call list
        return [failed(start, stop, FORMAT, name, f"the call list is not valid JSON: {exc}")]
    shapes = read_calls(value, strict=False)
    if shapes is None:
        reason = 'expected a list of {"name": ..., "arguments": {...}} objects'
        return [failed(start, end, FORMAT, None, reason)]
    return [
        found(start, end, FORMAT, shape.name, shape.arguments)
        if shape.name is not None and shape.arguments is not None
        else failed(start, end, FORMAT, shape.name, shape.reason)
        for shape in shapes
    ]


def _next_token(text: str, pos: int) -> int:
    following = text.find(TOKEN, pos)
    return following if following >= 0 else len(text)
