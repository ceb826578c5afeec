"""Reading an export's lines as chain links.

A line exactly as Moat exports it takes the fast path: the fields around
``data`` are read from the line's two ends and ``data`` is hashed as it
stands, never parsed. If that hash matches, the line is byte for byte what
Moat hashed, so it is canonical and means one thing. Any other line (edited,
re-serialized by another tool, torn) is parsed whole and hashed in canonical
form, which also names what is wrong with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from moatcode.audit.chain import Link, Problem
from moatcode.audit.record import CHECKPOINT_KIND, RECORD_VERSION, hash_body, hash_record_dict

FIELDS = frozenset({"v", "seq", "at", "session", "kind", "data", "prev_hash", "hash"})
_TEXT_FIELDS = ("at", "session", "kind", "prev_hash", "hash")
_UNPARSEABLE = object()

# A string with nothing to escape, so its canonical form is itself in quotes.
_PLAIN = r'"([^"\\\x00-\x1f]*)"'
_HEAD = re.compile(r'\{"at":' + _PLAIN + r',"data":')
_TAIL = re.compile(
    r',"hash":"([0-9a-f]{64})","kind":' + _PLAIN + r',"prev_hash":"([0-9a-f]{64})"'
    r',"seq":([1-9][0-9]*),"session":' + _PLAIN + r',"v":([1-9][0-9]*)\}\Z'
)


class JsonlReader:
    """Turns export lines into links, noticing a torn last line and foreign files."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.torn: Problem | None = None
        self.not_moat = False

    def links(self) -> Iterator[Link]:
        position = 0
        seen_record = False
        pending = next(self._lines, None)
        while pending is not None:
            line, pending = pending, next(self._lines, None)
            position += 1
            if not line.strip():
                continue
            link = exact_line_link(position, line)
            if link is not None:
                seen_record = True
                yield link
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = _UNPARSEABLE
            if value is _UNPARSEABLE:
                if not seen_record and not line.startswith('{"'):
                    self.not_moat = True
                    return
                if pending is None:
                    self.torn = Problem(
                        "torn", None, position,
                        "the last line is incomplete: the writer stopped mid-record.",
                    )
                    return
            elif not seen_record and not (isinstance(value, dict) and value.keys() >= FIELDS):
                self.not_moat = True
                return
            seen_record = True
            yield parsed_line_link(position, line, value)


def exact_line_link(position: int, line: str) -> Link | None:
    """The link for a line exactly as Moat exports it, or None for any other line."""
    text = line[:-1] if line.endswith("\n") else line
    head = _HEAD.match(text)
    if head is None:
        return None
    cut = text.rfind(',"hash":"')  # the last: only plain strings and numbers follow it
    tail = _TAIL.match(text, cut) if cut > head.end() else None
    if tail is None:
        return None
    digest, kind, prev_hash, seq, _session, v = tail.groups()
    if int(v) != RECORD_VERSION:
        return None
    # The canonical body is the line without its "hash" field.
    body = text[:cut] + text[tail.end(1) + 1:]
    if hash_body(prev_hash, body) != digest:
        return None
    checkpoint = json.loads(text[head.end():cut]) if kind == CHECKPOINT_KIND else None
    return Link(position, int(seq), prev_hash, digest, kind, checkpoint=checkpoint)


def parsed_line_link(position: int, line: str, value: Any) -> Link:
    """The link for a line that is not byte-exact: parsed, checked, hashed canonically."""
    if not isinstance(value, dict) or value.keys() != FIELDS:
        return Link(position, None, "", "", "", f"line {position} is not an audit record.")
    seq, digest, prev_hash, kind = value["seq"], value["hash"], value["prev_hash"], value["kind"]
    if (
        type(seq) is not int
        or type(value["v"]) is not int
        or not all(isinstance(value[f], str) for f in _TEXT_FIELDS)
        or not isinstance(value["data"], dict)
    ):
        return Link(position, None, "", "", "", f"line {position} has a field of the wrong type.")
    if value["v"] != RECORD_VERSION:
        return Link(
            position, seq, prev_hash, digest, kind,
            f"record format version {value['v']} is unknown to this Moat.",
            error_kind="unsupported",
        )
    try:
        # A key given twice is refused: parsers disagree on which one counts,
        # so the line could show one thing and hash another.
        json.loads(line, object_pairs_hook=_refuse_duplicate_keys)
        computed = hash_record_dict(value)
    except ValueError as exc:
        return Link(position, seq, prev_hash, digest, kind, f"line {position} {exc}")
    if computed != digest:
        return Link(position, seq, prev_hash, digest, kind, "its hash does not match its content.")
    checkpoint = value["data"] if kind == CHECKPOINT_KIND else None
    return Link(position, seq, prev_hash, digest, kind, checkpoint=checkpoint)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("has a key twice.")
    return dict(pairs)
