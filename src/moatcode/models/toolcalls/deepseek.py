"""DeepSeek V3 / R1 / V3.1 calls, written with the tool-call tokens.

V3 and R1 give a type, then the name, then the arguments in a JSON fence::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>read_file
    ```json
    {"path": "a.py"}
    ```<｜tool▁call▁end｜><｜tool▁calls▁end｜>

V3.1 puts the name before the separator and bare JSON after it::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>ls<｜tool▁sep｜>{"path": "."}<｜tool▁call▁end｜>
    <｜tool▁calls▁end｜>

The tokens use fullwidth bars and the ``▁`` word joiner; re-typed copies with
ASCII ``|`` and ``_`` turn up in the wild and are read too. Each call is
complete only at its own end token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls._shape import read_arguments_text
from moatcode.models.toolcalls.calls import Attempt, failed, found

FORMAT = "deepseek"


def _token(*words: str) -> str:
    return r"<[|｜]\s*" + r"[▁_ ]".join(words) + r"\s*[|｜]>"


_CALLS_BEGIN = re.compile(_token("tool", "calls", "begin"))
_CALL_BEGIN = re.compile(_token("tool", "call", "begin"))
_SEP = re.compile(_token("tool", "sep"))
_CALL_END = re.compile(_token("tool", "call", "end"))
# The wrapper tokens around a group of calls, removed from the text afterwards.
STRAY = re.compile(
    _token("tool", "calls", "begin")
    + "|"
    + _token("tool", "calls", "end")
    + "|"
    + _token("end", "of", "sentence")
)
_FENCE = re.compile(r"\s*```[\w-]*[ \t]*\n?(.*?)\n?[ \t]*```\s*\Z", re.DOTALL)
_NAME_LINE = re.compile(r"\s*([^\s{}\[\]`]+)[ \t]*(?:\n|\Z|(?=```|\{))")


def find_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    attempts: list[Attempt] = []
    cursor = 0
    end: re.Match[str] | None = None
    while (begin := _CALL_BEGIN.search(text, cursor)) is not None:
        # Once no end token is left, none will be: do not search again.
        if end is not None or not attempts:
            end = _CALL_END.search(text, begin.end())
        next_begin = _CALL_BEGIN.search(text, begin.end())
        if end is None or (next_begin is not None and next_begin.start() < end.start()):
            stop = next_begin.start() if next_begin is not None else len(text)
            name = _read_header(text[begin.end() : stop])[0]
            reason = "cut off before the call's end token"
            attempts.append(failed(begin.start(), stop, FORMAT, name, reason))
            cursor = stop
            continue
        attempts.append(_read_call(text, begin.start(), text[begin.end() : end.start()], end.end()))
        cursor = end.end()
    if not attempts:
        group = _CALLS_BEGIN.search(text)
        rest = text[group.end() :].strip() if group is not None else ""
        # Nothing after the group token, or only part of a call-begin token.
        if group is not None and (not rest or (rest[0] == "<" and ">" not in rest)):
            reason = "cut off after the calls-begin token"
            attempts.append(failed(group.start(), len(text), FORMAT, None, reason))
    return attempts


def _read_call(text: str, start: int, body: str, end: int) -> Attempt:
    name, arguments_text = _read_header(body)
    if name is None:
        return failed(start, end, FORMAT, None, "the call names no tool")
    if arguments_text is None:
        return failed(start, end, FORMAT, name, "the call has no arguments after the separator")
    fence = _FENCE.match(arguments_text)
    arguments, reason = read_arguments_text(fence.group(1) if fence else arguments_text)
    if arguments is None:
        return failed(start, end, FORMAT, name, reason)
    return found(start, end, FORMAT, name, arguments)


def _read_header(body: str) -> tuple[str | None, str | None]:
    """The name and the argument text of one call body (either version)."""
    sep = _SEP.search(body)
    if sep is None:
        return None, None
    before, after = body[: sep.start()].strip(), body[sep.end() :]
    if after.lstrip()[:1] in ("{", "[", "`") or not after.strip():
        return (before or None), after  # V3.1: name, separator, arguments
    line = _NAME_LINE.match(after)
    if line is None:
        return (before or None), after
    return line.group(1), after[line.end() :]  # V3 / R1: type, separator, name, fence
