"""A tolerant JSON reader for the JSON that models write.

Models write JSON that strict readers refuse: single-quoted strings, trailing
commas, Python's ``True``/``False``/``None``, bare identifier keys, literal
newlines inside strings, and backslashes that are not valid escapes (a regex
``\\d`` written by hand). ``NaN`` and ``Infinity`` are refused: the arguments
are sent on as JSON later.

The standard library's reader is not used even for valid JSON: each error it
raises counts the lines from the start of the text, which turns a message
with thousands of failed candidates quadratic. Strings, the bulk of any
call, are found by one regular expression each and unescaped by the standard
library's C string reader.

The reader tells a value that was *cut off* (the text ended inside it) from
one that is simply wrong, because a cut-off tool call must be reported as cut
off and never executed.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MAX_DEPTH = 200

_WS = re.compile(r"[ \t\r\n]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NUMBER_AT_END = re.compile(r"-?[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?\Z")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
# A string body up to its closing quote; escapes are taken whole so an
# escaped quote does not end it.
_DQ_BODY = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_SQ_BODY = re.compile(r"[^'\\]*+(?:\\.[^'\\]*+)*+'", re.DOTALL)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_SIMPLE_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}


class JSONError(ValueError):
    """The text is not a JSON value; ``truncated`` when it ended inside one."""

    def __init__(self, message: str, position: int, *, truncated: bool) -> None:
        super().__init__(message)
        self.position = position
        self.truncated = truncated


def decode_prefix(text: str, start: int = 0) -> tuple[Any, int]:
    """Read one JSON value at ``start`` (after any whitespace).

    Returns the value and the index just past it; what follows is not looked
    at. Raises ``JSONError``.
    """
    pos = _WS.match(text, start).end()  # type: ignore[union-attr]
    if pos >= len(text):
        raise JSONError("the text ended before a value", pos, truncated=True)
    return _Reader(text, pos, text_is_whole=False).value(pos, 0)


def decode(text: str) -> Any:
    """Read ``text`` as exactly one JSON value, whitespace around it allowed."""
    pos = _WS.match(text).end()  # type: ignore[union-attr]
    value, end = _Reader(text, pos, text_is_whole=True).value(pos, 0)
    rest = _WS.match(text, end).end()  # type: ignore[union-attr]
    if rest != len(text):
        message = _where("unexpected text after the value", text, 0, rest)
        raise JSONError(message, rest, truncated=False)
    return value


def _where(message: str, text: str, origin: int, pos: int) -> str:
    """The message with the place, counted from where the value began.

    Counting from ``origin`` rather than the start of the text keeps a text
    with many failed values linear.
    """
    line = text.count("\n", origin, pos) + 1
    column = pos - max(origin, text.rfind("\n", origin, pos) + 1) + 1
    return f"{message} at line {line} column {column}"


class _Reader:
    def __init__(self, text: str, origin: int, *, text_is_whole: bool) -> None:
        self.text = text
        self.origin = origin
        # Whether a number running to the end of the text is complete.
        self.text_is_whole = text_is_whole

    def fail(self, message: str, pos: int) -> JSONError:
        if pos >= len(self.text):
            return JSONError("the text ended inside the value", pos, truncated=True)
        return JSONError(_where(message, self.text, self.origin, pos), pos, truncated=False)

    def skip(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]

    def value(self, pos: int, depth: int) -> tuple[Any, int]:
        text = self.text
        pos = self.skip(pos)
        if pos >= len(text):
            raise self.fail("expected a value", pos)
        char = text[pos]
        if char == "{":
            return self.object(pos, depth + 1)
        if char == "[":
            return self.array(pos, depth + 1)
        if char in "\"'":
            return self.string(pos)
        if char in "-0123456789":
            number = _NUMBER.match(text, pos)
            whole = number is not None and number.end() == len(text) and self.text_is_whole
            if not whole and _NUMBER_AT_END.match(text, pos):
                # "12" may be the start of "123", "1." of "1.5": cut off.
                raise self.fail("", len(text))
            if number:
                if number.group(1) or number.group(2):
                    return float(number.group()), number.end()
                return int(number.group()), number.end()
        word = _IDENT.match(text, pos)
        if word and word.group() in _LITERALS:
            return _LITERALS[word.group()], word.end()
        if (
            word
            and word.end() >= len(text)
            and any(lit.startswith(word.group()) for lit in _LITERALS)
        ):
            raise self.fail("", len(text))
        raise self.fail(f"expected a value, found {char!r}", pos)

    def string(self, pos: int) -> tuple[str, int]:
        quote = self.text[pos]
        body = (_DQ_BODY if quote == '"' else _SQ_BODY).match(self.text, pos + 1)
        if body is None:
            raise self.fail("", len(self.text))
        return _unescape(self.text[pos + 1 : body.end() - 1], quote), body.end()

    def key(self, pos: int) -> tuple[str, int]:
        if self.text[pos] in "\"'":
            return self.string(pos)
        word = _IDENT.match(self.text, pos)
        if word is None:
            raise self.fail(f"expected a key, found {self.text[pos]!r}", pos)
        if word.end() >= len(self.text):
            raise self.fail("", word.end())
        return word.group(), word.end()

    def object(self, pos: int, depth: int) -> tuple[dict[str, Any], int]:
        if depth > _MAX_DEPTH:
            raise self.fail("nested too deeply", pos)
        result: dict[str, Any] = {}
        pos = self.skip(pos + 1)
        while True:
            if pos >= len(self.text):
                raise self.fail("", pos)
            if self.text[pos] == "}":
                return result, pos + 1
            key, pos = self.key(pos)
            pos = self.skip(pos)
            if pos >= len(self.text) or self.text[pos] != ":":
                raise self.fail("expected ':' after a key", pos)
            result[key], pos = self.value(pos + 1, depth)
            pos = self.skip(pos)
            if pos < len(self.text) and self.text[pos] == ",":
                pos = self.skip(pos + 1)
            elif pos < len(self.text) and self.text[pos] != "}":
                raise self.fail("expected ',' or '}'", pos)

    def array(self, pos: int, depth: int) -> tuple[list[Any], int]:
        if depth > _MAX_DEPTH:
            raise self.fail("nested too deeply", pos)
        result: list[Any] = []
        pos = self.skip(pos + 1)
        while True:
            if pos >= len(self.text):
                raise self.fail("", pos)
            if self.text[pos] == "]":
                return result, pos + 1
            item, pos = self.value(pos, depth)
            result.append(item)
            pos = self.skip(pos)
            if pos < len(self.text) and self.text[pos] == ",":
                pos = self.skip(pos + 1)
            elif pos < len(self.text) and self.text[pos] != "]":
                raise self.fail("expected ',' or ']'", pos)


def _unescape(body: str, quote: str) -> str:
    if "\\" not in body:
        return body
    if quote == '"':
        # The standard library's C reader, when every escape is valid JSON;
        # on a string this short its error costs nothing much.
        try:
            decoded = json.loads(f'"{body}"', strict=False)
        except ValueError:
            pass
        else:
            return str(decoded)
    result = _ESCAPE.sub(_replace_escape, body)
    if _SURROGATE.search(result):
        # Join \uD83D\uDE00 pairs into one character; a lone half stays as it is.
        result = result.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    return result


def _replace_escape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16))
    # An unknown escape such as \d is kept as written: it was meant literally.
    return _SIMPLE_ESCAPES.get(code, "\\" + code)
