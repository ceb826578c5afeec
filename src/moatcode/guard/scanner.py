"""Finding secrets quickly: anchors, one scan per pivot letter, and detectors.

Every detector names short literal *anchors* that must occur where it can
match (``ghp_``, ``-----BEGIN``, ``password``) and is run only at those
places, so text without any anchor is scanned and dropped. Python's regular
expression engine scans fastest for a pattern that starts with one fixed
character: it then skips along to each occurrence of that character and tries
the rest there. So each anchor marks its rarest letter as the *pivot*
(``"to[k]en"``), and all anchors sharing a pivot become one pattern such as
``k(?:(?<=tok)en|ey)``: the text is scanned once per pivot letter, not once
per anchor. About ten pivots cover every rule.

Lower-case anchors are matched case-insensitively (on a lower-cased copy),
anchors with an upper-case letter exactly (``"[A]KIA"``). All work is on the
UTF-8 bytes of the text, where lower-casing keeps every offset and searches
are fastest; ``Scanner.scan`` reports character offsets of the input.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Finding:
    """A secret in a text: its kind and the character span of the value only."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A detector's finding in byte offsets; higher ``priority`` wins an overlap."""

    kind: str
    start: int
    end: int
    priority: int


@dataclass(frozen=True)
class Anchor:
    """A literal a detector needs, with its pivot letter in brackets.

    ``tail`` is a regular expression that must follow the literal, and
    ``lead`` a one-character class that must precede it, both checked during
    the scan itself (same case rule as the literal) so that most occurrences
    never reach Python code.
    """

    text: str
    tail: bytes = b""
    lead: bytes = b""

    @property
    def literal(self) -> str:
        return self.text.replace("[", "").replace("]", "")

    @property
    def pivot(self) -> int:
        index = self.text.index("[")
        if self.text[index + 2] != "]":
            raise ValueError(f"anchor {self.text!r} must bracket exactly one pivot character")
        return index

    @property
    def case_sensitive(self) -> bool:
        return self.literal != self.literal.lower()


@dataclass
class Source:
    """The text being scanned, as bytes, with a per-scan memo for detectors."""

    data: bytes
    lowered: bytes
    memo: dict[object, object] = field(default_factory=dict)

    def contains(self, word: bytes) -> bool:
        """Whether the lower-case ``word`` occurs anywhere (case-insensitively)."""
        key = ("contains", word)
        found = self.memo.get(key)
        if found is None:
            found = word in self.lowered
            self.memo[key] = found
        return bool(found)

    def first_time(self, key: object) -> bool:
        """True the first time ``key`` is asked about during this scan."""
        if key in self.memo:
            return False
        self.memo[key] = True
        return True

    def find_after(self, needle: bytes, pos: int) -> int:
        """``data.find(needle, pos)``, remembered so repeated asks stay linear."""
        key = ("find", needle)
        cached = self.memo.get(key)
        if isinstance(cached, tuple):
            asked, found = cached
            # The last answer holds for any start between the last ask and it.
            if asked <= pos and (found < 0 or found >= pos):
                return int(found)
        found = self.data.find(needle, pos)
        self.memo[key] = (pos, found)
        return found


class Detector(Protocol):
    """Finds secrets at the places its anchors occur."""

    @property
    def anchors(self) -> tuple[Anchor, ...]: ...

    def find_at(self, source: Source, start: int, end: int) -> Iterable[Hit]:
        """Hits for the anchor literal found at ``data[start:end]``."""
        ...


@dataclass(frozen=True)
class _Branch:
    """One anchor within a pass: where its literal starts, who to wake."""

    before: int  # bytes of the literal before the pivot
    length: int
    owners: tuple[Detector, ...]
    # The branch alone, to try at a position where an earlier branch matched.
    alone: re.Pattern[bytes]


@dataclass(frozen=True)
class _Pass:
    """One scan: a pivot byte and one pattern for every anchor that has it."""

    case_sensitive: bool
    pivot: bytes
    pattern: re.Pattern[bytes]
    branches: dict[str, _Branch]
    # Later branches that can match where a branch matched ("s[k]-ant-"
    # where "s[k]-" did): the pattern reports only the first.
    also: dict[str, tuple[_Branch, ...]]


def _compile_passes(detectors: Sequence[Detector]) -> tuple[_Pass, ...]:
    grouped: dict[tuple[bool, str], dict[Anchor, list[Detector]]] = {}
    for detector in detectors:
        for anchor in detector.anchors:
            key = (anchor.case_sensitive, anchor.literal[anchor.pivot])
            grouped.setdefault(key, {}).setdefault(anchor, []).append(detector)
    return tuple(
        _compile_pass(case_sensitive, pivot, owners)
        for (case_sensitive, pivot), owners in sorted(grouped.items())
    )


def _compile_pass(case_sensitive: bool, pivot: str, owners: dict[Anchor, list[Detector]]) -> _Pass:
    anchors = sorted(owners, key=lambda a: (a.text, a.tail, a.lead))
    sources, branches = [], {}
    for n, anchor in enumerate(anchors):
        literal = anchor.literal.encode()
        # The bytes after the pivot come first, so that the engine can drop a
        # branch on its first byte; a look-behind then checks the literal (and
        # the lead); an empty named group tells which branch matched.
        needs_behind = anchor.pivot > 0 or anchor.lead
        behind = b"(?<=" + anchor.lead + re.escape(literal) + b")" if needs_behind else b""
        source = re.escape(literal[anchor.pivot + 1 :]) + behind + anchor.tail
        sources.append(source + f"(?P<a{n}>)".encode())
        alone = re.compile(re.escape(pivot.encode()) + source)
        branches[f"a{n}"] = _Branch(anchor.pivot, len(literal), tuple(owners[anchor]), alone)
    also = {
        f"a{i}": tuple(
            branches[f"a{j}"] for j in range(i + 1, len(anchors)) if _agree(one, anchors[j])
        )
        for i, one in enumerate(anchors)
    }
    pattern = re.compile(re.escape(pivot.encode()) + b"(?:" + b"|".join(sources) + b")")
    return _Pass(case_sensitive, pivot.encode(), pattern, branches, also)


def _agree(one: Anchor, other: Anchor) -> bool:
    """Whether both literals can occur with their pivots at the same place."""
    a, b = one.literal, other.literal
    before_a, before_b = a[: one.pivot], b[: other.pivot]
    after_a, after_b = a[one.pivot + 1 :], b[other.pivot + 1 :]
    return (before_a.endswith(before_b) or before_b.endswith(before_a)) and (
        after_a.startswith(after_b) or after_b.startswith(after_a)
    )


class Scanner:
    """Runs detectors over text, once per pivot letter, and resolves overlaps."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._passes = _compile_passes(detectors)

    def scan(self, text: str) -> list[Finding]:
        data = text.encode("utf-8", "surrogatepass")
        source = Source(data, data.lower())
        hits: list[Hit] = []
        for scan in self._passes:
            haystack = data if scan.case_sensitive else source.lowered
            # A single-byte find is a memchr: it rules most passes out for free.
            if haystack.find(scan.pivot) < 0:
                continue
            for match in scan.pattern.finditer(haystack):
                name, at = match.lastgroup or "", match.start()
                woken = [scan.branches[name]]
                woken += (b for b in scan.also[name] if b.alone.match(haystack, at))
                for branch in woken:
                    start = at - branch.before
                    for detector in branch.owners:
                        hits.extend(detector.find_at(source, start, start + branch.length))
        kept = _resolve_overlaps(hits)
        return _to_findings(text, data, kept)


def _resolve_overlaps(hits: list[Hit]) -> list[Hit]:
    """Keep the best of overlapping hits: higher priority first, then longer."""
    kept_starts: list[int] = []
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (-h.priority, h.start - h.end, h.start)):
        i = bisect.bisect_left(kept_starts, hit.start)
        if i > 0 and kept[i - 1].end > hit.start:
            continue
        if i < len(kept) and kept[i].start < hit.end:
            continue
        kept_starts.insert(i, hit.start)
        kept.insert(i, hit)
    return kept


def _to_findings(text: str, data: bytes, hits: list[Hit]) -> list[Finding]:
    """Byte offsets to character offsets (the same numbers for ASCII text)."""
    if len(data) == len(text):
        return [Finding(h.kind, h.start, h.end) for h in hits]
    findings = []
    byte_pos = char_pos = 0

    def chars_at(offset: int) -> int:
        nonlocal byte_pos, char_pos
        # Never split a UTF-8 sequence: move onto the next character start.
        while offset < len(data) and data[offset] & 0xC0 == 0x80:
            offset += 1
        char_pos += len(data[byte_pos:offset].decode("utf-8", "surrogatepass"))
        byte_pos = offset
        return char_pos

    for hit in hits:
        start = chars_at(hit.start)
        findings.append(Finding(hit.kind, start, chars_at(hit.end)))
    return findings
