"""Llama 3.x calls: bare JSON objects, and the ``<|python_tag|>`` forms.

Llama 3.1-3.3 answer a JSON-based tool prompt with the object alone::

    {"name": "read_file", "parameters": {"path": "a.py"}}

and sometimes with several, separated by ``;`` or new lines. After
``<|python_tag|>`` come either the same JSON or a built-in tool call in
Python syntax (``brave_search.call(query="moat")``), ended by ``<|eom_id|>``
or ``<|eot_id|>`` when the server keeps them.

Bare JSON is the riskiest thing to read as a call, so only an object that
starts a line and has exactly the keys of a call (name plus arguments or
parameters, optionally id and type) counts; a truncated one counts only when
it opens with a name key. JSON in a code fence is ``fenced.py``'s to judge,
and a Python dict in a ``python`` fence is nobody's call.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls._json import JSONError, decode_prefix
from moatcode.models.toolcalls._shape import Shape, guess_name, looks_like_call, read_calls
from moatcode.models.toolcalls.calls import Attempt, failed, found
from moatcode.models.toolcalls.fenced import find_fences

FORMAT = "llama3"
PYTHON_TAG = "<|python_tag|>"
_END = re.compile(r"<\|eom_id\|>|<\|eot_id\|>")
_LINE_START_JSON = re.compile(r"^[ \t]*[\[{]", re.MULTILINE)
_SEPARATOR = re.compile(r"[\s;]*")
_PYTHON_CALL = re.compile(r"[A-Za-z_][\w.]*\s*\(")
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n")


def find_python_tag_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    attempts: list[Attempt] = []
    cursor = 0
    while (start := text.find(PYTHON_TAG, cursor)) >= 0:
        pos = _SEPARATOR.match(text, start + len(PYTHON_TAG)).end()  # type: ignore[union-attr]
        end_token = _END.search(text, pos)
        stop = end_token.start() if end_token else len(text)
        span_end = end_token.end() if end_token else len(text)
        body = text[pos:stop].rstrip()
        if body[:1] in ("{", "["):
            found_here = _read_json_chain(text, start, pos, stop)
        elif not body:
            found_here = [failed(start, span_end, FORMAT, None, f"nothing after {PYTHON_TAG}")]
        elif _PYTHON_CALL.match(body):
            found_here = [_read_python_call(body, start, span_end)]
        else:
            reason = f"only function calls can follow {PYTHON_TAG}; code is not run"
            found_here = [failed(start, span_end, FORMAT, None, reason)]
        attempts.extend(found_here)
        cursor = max(span_end, *(a.end for a in found_here))
    return attempts


def find_json_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    """Call objects that begin a line outside code fences (fenced ones are ``fenced.py``'s)."""
    attempts: list[Attempt] = []
    fences = find_fences(text) if "```" in text or "~~~" in text else []
    next_fence = 0  # candidates come in order, so fences are passed in order
    cursor = 0
    while (line := _LINE_START_JSON.search(text, cursor)) is not None:
        pos = line.end() - 1
        while next_fence < len(fences) and fences[next_fence].end <= pos:
            next_fence += 1
        if next_fence < len(fences) and fences[next_fence].start <= pos:
            cursor = fences[next_fence].end
            continue
        chain = _read_json_chain(text, pos, pos, len(text), strict=True)
        if chain:
            attempts.extend(chain)
            cursor = max(attempt.end for attempt in chain)
        else:
            cursor = pos + 1
    return attempts


def _read_json_chain(
    text: str, start: int, pos: int, stop: int, *, strict: bool = False
) -> list[Attempt]:
    """Read call objects at ``pos`` separated by ``;`` or whitespace, up to ``stop``.

    ``strict`` is for bare JSON in prose: anything that is not a call ends the
    chain without a failure, unless it opens like a call.
    """
    attempts: list[Attempt] = []
    cursor = pos
    begin = start
    while cursor < stop and text[cursor] in "{[":
        try:
            value, end = decode_prefix(text, cursor)
        except JSONError as exc:
            if not strict or looks_like_call(text, cursor):
                attempts.append(_failure(text, begin, cursor, exc))
            break
        shapes = read_calls(value, strict=strict)
        if shapes is None:
            if not strict:
                reason = f"the JSON after {PYTHON_TAG} is not a call object"
                attempts.append(failed(begin, end, FORMAT, None, reason))
            break
        attempts.extend(_from_shape(begin, end, shape) for shape in shapes)
        # The next call's span starts here, so the ";" between them goes too.
        begin = end
        cursor = _SEPARATOR.match(text, end).end()  # type: ignore[union-attr]
    return attempts


def _failure(text: str, begin: int, pos: int, exc: JSONError) -> Attempt:
    name = guess_name(text[pos : pos + 400])
    if exc.truncated:
        return failed(begin, len(text), FORMAT, name, "cut off before the call's JSON closes")
    paragraph = _PARAGRAPH_END.search(text, pos)
    end = paragraph.start() if paragraph else len(text)
    return failed(begin, end, FORMAT, name, f"the call is not valid JSON: {exc}")


def _from_shape(start: int, end: int, shape: Shape) -> Attempt:
    if shape.name is not None and shape.arguments is not None:
        return found(start, end, FORMAT, shape.name, shape.arguments)
    return failed(start, end, FORMAT, shape.name, shape.reason)


def _read_python_call(body: str, start: int, end: int) -> Attempt:
    """Read ``tool.call(key=literal, ...)`` (a Llama built-in tool) or ``tool(key=...)``."""
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        guessed = body.split("(", 1)[0].strip().removesuffix(".call")
        return failed(start, end, FORMAT, guessed, f"the call is cut off or not valid: {exc.msg}")
    call = tree.body
    if not isinstance(call, ast.Call):
        return failed(start, end, FORMAT, None, "expected one function call")
    dotted = _dotted(call.func)
    if dotted is None:
        return failed(start, end, FORMAT, None, "the called name is not a plain name")
    name = dotted.removesuffix(".call")
    if call.args:
        return failed(start, end, FORMAT, name, "arguments must be given by keyword")
    arguments: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            return failed(start, end, FORMAT, name, "** arguments are not supported")
        try:
            arguments[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            return failed(start, end, FORMAT, name, f"argument {keyword.arg!r} is not a literal")
    return found(start, end, FORMAT, name, arguments)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None
