"""Recovering tool calls that a model server left in the message text.

Called only when the server's structured ``tool_calls`` is empty: no parser
was configured, the wrong one was, or it dropped a call made inside the
thinking. The answer is searched first, then the thinking inside the content,
then the separate reasoning text (see ``_find_in_thinking``).

Every family's reader looks at the text, and the family whose first call
starts earliest wins, so markup of one family quoted inside another's
arguments (a Hermes call writing a file that mentions ``[TOOL_CALLS]``) is
never read as a call. Only that family's calls are taken.

A call cut off before its closing markup, a call that cannot be read, and a
call to a tool that was not offered all become ``MalformedCall``: they are
reported, never run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from moatcode.models.toolcalls import (
    _tags,
    deepseek,
    fenced,
    harmony,
    llama3,
    mistral,
    qwen3_coder,
)
from moatcode.models.toolcalls._thinking import split_thinking
from moatcode.models.toolcalls.calls import (
    Attempt,
    MalformedCall,
    ParsedCall,
    ParseResult,
)

__all__ = ["MalformedCall", "ParseResult", "ParsedCall", "parse_tool_calls"]

Schemas = Mapping[str, Mapping[str, Any]]
_Finder = Callable[[str, Schemas], list[Attempt]]

# In order of how distinctive their markup is; ties on position go to the first.
_FINDERS: tuple[_Finder, ...] = (
    harmony.find_calls,
    deepseek.find_calls,
    mistral.find_calls,
    _tags.find_calls,
    qwen3_coder.find_bare_calls,
    llama3.find_python_tag_calls,
    fenced.find_calls,
    llama3.find_json_calls,
)

# End-of-turn and wrapper tokens a server may leave in the text. "</s>" is
# also HTML, so only a final one counts.
_CONTROL = re.compile(
    r"<\|(?:eot_id|eom_id|im_end|python_tag)\|>|</s>\s*\Z"
    + "|"
    + harmony.STRAY.pattern
    + "|"
    + deepseek.STRAY.pattern
)


def parse_tool_calls(
    content: str,
    reasoning: str = "",
    offered: Collection[str] = (),
    schemas: Schemas | None = None,
) -> ParseResult:
    """Find the tool calls in a message's text.

    ``offered`` names the tools the request offered (empty: accept any name);
    ``schemas`` maps a tool name to its parameters' JSON schema, used to type
    the text values of XML-style calls.
    """
    schemas = schemas or {}
    split = split_thinking(content)
    attempts = _find(split.answer, schemas)
    if attempts:
        text = _remove(split.answer, attempts)
        calls, malformed = _judge(attempts, split.answer, set(offered))
        return ParseResult(calls, malformed, _tidy(text, changed=True), attempts[0].format)
    text = _tidy(split.answer, changed=split.answer != content)
    # Did the output end inside this thinking, rather than after it?
    for thinking, ended_inside in (
        (split.thinking, split.unfinished),
        (reasoning, not content.strip()),
    ):
        attempts = _find_in_thinking(thinking, schemas, ended_inside=ended_inside)
        if attempts:
            calls, malformed = _judge(attempts, thinking, set(offered))
            return ParseResult(calls, malformed, text, attempts[0].format)
    return ParseResult((), (), text, None)


def _find(text: str, schemas: Schemas) -> list[Attempt]:
    best: list[Attempt] = []
    for finder in _FINDERS:
        attempts = finder(text, schemas)
        if attempts and (not best or min(a.start for a in attempts) < min(a.start for a in best)):
            best = attempts
    return sorted(best, key=lambda attempt: attempt.start)


def _find_in_thinking(text: str, schemas: Schemas, *, ended_inside: bool) -> list[Attempt]:
    """Calls in thinking, which is full of drafts and quoted markup.

    It counts when it holds a complete call, or when the output stopped in
    the middle of a call there (reported, never run).
    """
    attempts = _find(text, schemas) if text else []
    if any(attempt.arguments is not None for attempt in attempts):
        return attempts
    if ended_inside:
        return [attempt for attempt in attempts if attempt.end == len(text)]
    return []


def _judge(
    attempts: list[Attempt], source: str, offered: set[str]
) -> tuple[tuple[ParsedCall, ...], tuple[MalformedCall, ...]]:
    calls: list[ParsedCall] = []
    malformed: list[MalformedCall] = []
    for attempt in attempts:
        raw = source[attempt.start : attempt.end]
        if attempt.name is None or attempt.arguments is None:
            malformed.append(MalformedCall(attempt.name, raw, attempt.reason))
        elif offered and attempt.name not in offered:
            listed = ", ".join(sorted(offered))
            reason = f"{attempt.name!r} is not one of the tools offered here ({listed})"
            malformed.append(MalformedCall(attempt.name, raw, reason))
        else:
            calls.append(ParsedCall(attempt.name, attempt.arguments))
    return tuple(calls), tuple(malformed)


def _remove(text: str, attempts: list[Attempt]) -> str:
    """The text without the attempts' spans, the whitespace at each cut closed up."""
    pieces: list[str] = []
    cursor = 0
    for attempt in sorted(attempts, key=lambda a: a.start):
        if attempt.start > cursor:
            pieces.append(text[cursor : attempt.start])
        cursor = max(cursor, attempt.end)
    pieces.append(text[cursor:])
    kept = [piece.strip() for piece in pieces]
    return "\n\n".join(piece for piece in kept if piece)


def _tidy(text: str, *, changed: bool) -> str:
    tidied = _CONTROL.sub("", text)
    if tidied == text and not changed:
        return text  # nothing was taken out: the content stands exactly as sent
    return tidied.strip()
