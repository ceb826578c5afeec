"""gpt-oss harmony calls: a commentary-channel message addressed to a function::

    <|start|>assistant<|channel|>commentary to=functions.ls <|constrain|>json<|message|>{}<|call|>

The recipient may also sit in the role header
(``<|start|>assistant to=functions.read_file<|channel|>commentary json<|message|>``),
the first message of a turn has no ``<|start|>assistant`` (the prompt ended
with it), and ``<|call|>`` is a stop token that servers usually drop, so a
call is complete when its JSON closes. When a server strips the special
tokens, ``commentary to=functions.read_file json{...}`` is what remains.

Thinking travels on the analysis channel (``_thinking.py`` takes it out);
``STRAY`` matches the headers of final and preamble messages, whose text is
kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moatcode.models.toolcalls._json import JSONError, decode_prefix
from moatcode.models.toolcalls._scan import ends_inside
from moatcode.models.toolcalls.calls import Attempt, failed, found

FORMAT = "harmony"
_RECIPIENT = "to=functions."
_NAME = re.compile(r"[\w.\-]+")
# What may stand before the recipient, read backwards from it.
_LEAD = re.compile(
    r"(?:<\|start\|>)?\s*(?:assistant)?\s*(?:<\|channel\|>)?\s*(?:commentary|analysis)?\s*\Z"
)
_TAIL = re.compile(
    r"\s*(?:<\|channel\|>\s*(?:commentary|analysis)\s*)?"
    r"(?:<\|constrain\|>\s*)?(?:json\b\s*)?(?:<\|message\|>\s*)?"
)
_LEAD_WINDOW = 64
_CHANNEL_WORD = re.compile(r"commentary|analysis")
_CALL_END = "<|call|>"
STRAY = re.compile(
    r"(?:<\|start\|>\s*assistant\s*)?<\|channel\|>\s*(?:final|commentary)\s*<\|message\|>"
    r"|<\|start\|>\s*assistant|<\|(?:end|return|call)\|>"
)


def find_calls(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[Attempt]:
    attempts: list[Attempt] = []
    cursor = 0
    while (at := text.find(_RECIPIENT, cursor)) >= 0:
        attempt = _read(text, at)
        cursor = at + len(_RECIPIENT)
        if attempt is not None:
            attempts.append(attempt)
            cursor = max(cursor, attempt.end)
    return attempts


def _read(text: str, at: int) -> Attempt | None:
    window = text[max(0, at - _LEAD_WINDOW) : at]
    lead = _LEAD.search(window)
    lead_text = lead.group() if lead else ""
    name = _NAME.match(text, at + len(_RECIPIENT))
    tail = _TAIL.match(text, name.end() if name else at + len(_RECIPIENT))
    assert tail is not None  # every part of the pattern is optional
    # A harmony token, or at least the channel word, separates a call from prose
    # that happens to contain "to=functions.".
    if "<|" not in lead_text + tail.group() and not _CHANNEL_WORD.search(lead_text):
        return None
    start = at - len(lead_text)
    if name is None:
        if at + len(_RECIPIENT) >= len(text):
            return failed(start, len(text), FORMAT, None, "cut off before the tool name")
        return None
    pos = tail.end()
    if pos >= len(text):
        return failed(start, len(text), FORMAT, name.group(), "cut off before the arguments")
    if text.startswith(_CALL_END, pos):
        return found(start, pos + len(_CALL_END), FORMAT, name.group(), {})
    if text[pos] != "{":
        if ends_inside(text, pos, _CALL_END, "<|constrain|>", "<|message|>", "<|channel|>"):
            return failed(start, len(text), FORMAT, name.group(), "cut off before the arguments")
        return failed(start, pos, FORMAT, name.group(), "the arguments are not a JSON object")
    try:
        arguments, end = decode_prefix(text, pos)
    except JSONError as exc:
        close = text.find(_CALL_END, pos)
        if exc.truncated and close < 0:
            return failed(start, len(text), FORMAT, name.group(), "cut off before the JSON closes")
        stop = close + len(_CALL_END) if close >= 0 else len(text)
        reason = f"the arguments are not valid JSON: {exc}"
        return failed(start, stop, FORMAT, name.group(), reason)
    if not isinstance(arguments, dict):
        return failed(start, end, FORMAT, name.group(), "the arguments are not a JSON object")
    after = end
    while after < len(text) and text[after].isspace():
        after += 1
    if text.startswith(_CALL_END, after):
        end = after + len(_CALL_END)
    return found(start, end, FORMAT, name.group(), arguments)
