"""Shell words: what one argument of a command will be, as far as the text tells.

``resolve_word`` turns a tree-sitter word node (``word``, quoted strings,
concatenations, expansions...) into a ``Word``: the text after quote removal,
and what the text cannot tell. A word whose value depends on the run (``$x``,
``$(cmd)``, ``{a,b}``) is *dynamic*: its unknown parts are the NUL character in
``text``, which no rule character can match, so only a ``*`` can cover them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

# Stands for the unknown part of a dynamic word; rules cannot contain it.
UNKNOWN = "\x00"

_DYNAMIC_NODES = frozenset(
    {
        "simple_expansion",
        "expansion",
        "command_substitution",
        "arithmetic_expansion",
        "process_substitution",
        "brace_expression",
    }
)
_BRACE = re.compile(r"\{[^{}]*(?:,|\.\.)[^{}]*\}")
_DQ_ESCAPES = frozenset('$`"\\\n')


@dataclass(frozen=True)
class Word:
    """One shell word.

    ``text`` is the value after quote removal, with ``UNKNOWN`` where it
    depends on the run. ``source`` is the word as written. ``shell`` is the
    value as shell source (unknown parts kept as written), for a word that a
    shell will read again (``bash -c``, ``eval``). ``splits`` says an unquoted
    expansion may turn it into no word or several; ``glob`` that it has
    unquoted ``*``, ``?`` or ``[`` and names files; ``tilde`` that it starts
    with an unquoted ``~``.
    """

    text: str
    source: str
    shell: str = ""
    dynamic: bool = False
    splits: bool = False
    glob: bool = False
    tilde: bool = False

    @property
    def literal(self) -> bool:
        return not self.dynamic


def literal_word(text: str) -> Word:
    """A word known in full, for words Moat makes up (``{}`` stand-ins, defaults)."""
    return Word(text=text, source=text, shell=text)


def unknown_word(source: str, *, splits: bool) -> Word:
    """A word whose value is not known at all (xargs input, find's ``{}``)."""
    return Word(text=UNKNOWN, source=source, shell=source, dynamic=True, splits=splits)


def node_text(node: Node, src: bytes) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def resolve_word(node: Node, src: bytes) -> Word:
    """Resolve one argument node (the child of ``command_name`` for a name)."""
    acc = _Acc()
    _add(node, src, acc, quoted=False)
    source = node_text(node, src)
    text = "".join(acc.text)
    dynamic = acc.dynamic
    splits = acc.splits
    if _BRACE.search("".join(acc.unquoted)):
        # Brace expansion makes several words out of one: `{rm,-rf,x}`.
        dynamic = splits = True
        text = UNKNOWN
    return Word(
        text=text,
        source=source,
        shell="".join(acc.shell),
        dynamic=dynamic,
        splits=splits,
        glob=acc.glob,
        tilde=acc.tilde,
    )


class _Acc:
    """What resolving one word has found so far."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.shell: list[str] = []
        # Unquoted text, escaped characters blanked, for the brace check.
        self.unquoted: list[str] = []
        self.dynamic = False
        self.splits = False
        self.glob = False
        self.tilde = False
        self.started = False


def _add(node: Node, src: bytes, acc: _Acc, *, quoted: bool) -> None:
    kind = node.type
    if kind == "concatenation":
        _add_children(node, src, acc, quoted=quoted)
    elif kind in ("word", "number"):
        if quoted:
            _literal(acc, _unescape_dq(node_text(node, src)), quoted=True)
        else:
            _unquoted(acc, node_text(node, src))
    elif kind == "raw_string":
        _literal(acc, node_text(node, src)[1:-1], quoted=True)
    elif kind == "ansi_c_string":
        _literal(acc, decode_ansi_c(node_text(node, src)[2:-1]), quoted=True)
    elif kind == "string":
        _add_string(node, src, acc)
    elif kind == "translated_string":
        # $"..." is a "..." string looked up in a message catalogue: the same text.
        inner = [c for c in node.named_children if c.type == "string"]
        if len(inner) == 1:
            _add_string(inner[0], src, acc)
        else:
            _dynamic(acc, node_text(node, src), quoted=False, splits=True)
    elif kind == "string_content":
        _literal(acc, _unescape_dq(node_text(node, src)), quoted=True)
    elif kind in _DYNAMIC_NODES:
        raw = node_text(node, src)
        splits = (not quoted and kind != "process_substitution") or (
            quoted and (raw in ("$@", "${@}") or raw.endswith("[@]}"))
        )
        _dynamic(acc, raw, quoted=quoted, splits=splits)
    else:
        # Anything else in an argument (extglob, regex, a lone $...) is not plain text.
        _dynamic(acc, node_text(node, src), quoted=quoted, splits=True)


def _add_children(node: Node, src: bytes, acc: _Acc, *, quoted: bool) -> None:
    pos = node.start_byte
    for child in node.children:
        if child.start_byte > pos:
            # Text between children that the grammar does not name.
            gap = src[pos : child.start_byte].decode("utf-8", "replace")
            if quoted:
                _literal(acc, _unescape_dq(gap), quoted=True)
            else:
                _unquoted(acc, gap)
        _add(child, src, acc, quoted=quoted)
        pos = child.end_byte
    if node.end_byte > pos:
        gap = src[pos : node.end_byte].decode("utf-8", "replace")
        if quoted:
            _literal(acc, gap, quoted=True)
        else:
            _unquoted(acc, gap)


def _add_string(node: Node, src: bytes, acc: _Acc) -> None:
    # The children are the quotes, string_content and expansions; the text
    # between the quotes that no child covers is content too.
    start = node.start_byte + 1
    end = node.end_byte - 1
    pos = start
    for child in node.children:
        if child.start_byte < start or child.end_byte > end:
            continue
        if child.start_byte > pos:
            _literal(
                acc, _unescape_dq(src[pos : child.start_byte].decode("utf-8", "replace")), True
            )
        _add(child, src, acc, quoted=True)
        pos = child.end_byte
    if end > pos:
        _literal(acc, _unescape_dq(src[pos:end].decode("utf-8", "replace")), True)
    acc.started = True


def _dynamic(acc: _Acc, raw: str, *, quoted: bool, splits: bool) -> None:
    acc.text.append(UNKNOWN)
    acc.shell.append(raw)
    acc.unquoted.append(" ")
    acc.dynamic = True
    acc.splits = acc.splits or splits
    acc.started = True


def _literal(acc: _Acc, text: str, quoted: bool) -> None:
    acc.text.append(text)
    acc.shell.append(text)
    acc.unquoted.append(" " * len(text) if quoted else text)
    acc.started = True


def _unquoted(acc: _Acc, raw: str) -> None:
    out: list[str] = []
    blanked: list[str] = []
    i = 0
    if not acc.started and raw.startswith("~"):
        acc.tilde = True
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt != "\n":
                out.append(nxt)
                blanked.append(" ")
            i += 2
            continue
        if c in "*?[":
            acc.glob = True
        out.append(c)
        blanked.append(c)
        i += 1
    text = "".join(out)
    acc.text.append(text)
    acc.shell.append(text)
    acc.unquoted.append("".join(blanked))
    acc.started = True


def _unescape_dq(raw: str) -> str:
    """Inside double quotes a backslash escapes only ``$ ` " \\`` and newline."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) and raw[i + 1] in _DQ_ESCAPES:
            if raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def decode_ansi_c(body: str) -> str:
    """The value of ``$'...'``: bash's backslash escapes, so ``$'\\x72m'`` is ``rm``."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e in "01234567":
            digits = e
            while len(digits) < 3 and i < len(body) and body[i] in "01234567":
                digits += body[i]
                i += 1
            out.append(chr(int(digits, 8) & 0xFF))
        elif e in "xuU":
            limit = {"x": 2, "u": 4, "U": 8}[e]
            digits = ""
            while len(digits) < limit and i < len(body) and body[i] in "0123456789abcdefABCDEF":
                digits += body[i]
                i += 1
            value = int(digits, 16) if digits else -1
            out.append(chr(value) if 0 <= value <= 0x10FFFF else "\\" + e + digits)
        elif e == "c" and i < len(body):
            out.append(chr(ord(body[i].upper()) ^ 0x40))
            i += 1
        else:
            out.append("\\" + e)
    return "".join(out)
