"""The scanner: anchors found by pivot, detectors woken there, overlaps settled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from moatcode.guard.scanner import Anchor, Finding, Hit, Scanner, Source


@dataclass
class Recorder:
    """Reports each anchor it is woken at as a hit covering the literal."""

    anchors: tuple[Anchor, ...]
    kind: str = "seen"
    priority: int = 1
    calls: list[tuple[int, int]] = field(default_factory=list)

    def find_at(self, source: Source, start: int, end: int) -> tuple[Hit, ...]:
        self.calls.append((start, end))
        return (Hit(self.kind, start, end, self.priority),)


def test_anchor_parts() -> None:
    anchor = Anchor("to[k]en", rb"\d")
    assert (anchor.literal, anchor.pivot, anchor.case_sensitive) == ("token", 2, False)
    assert Anchor("LT[A]I").case_sensitive


def test_an_anchor_brackets_exactly_one_pivot() -> None:
    with pytest.raises(ValueError, match="exactly one pivot"):
        Scanner([Recorder((Anchor("[ab]c"),))])


def test_lower_case_anchors_match_any_case_upper_case_ones_exactly() -> None:
    folded = Recorder((Anchor("to[k]en"),), kind="folded")
    exact = Recorder((Anchor("AK[I]A"),), kind="exact")
    text = "token TOKEN Token akia AKIA"
    assert Scanner([folded, exact]).scan(text) == [
        Finding("folded", 0, 5),
        Finding("folded", 6, 11),
        Finding("folded", 12, 17),
        Finding("exact", 23, 27),
    ]


def test_anchors_sharing_a_pivot_are_told_apart() -> None:
    token = Recorder((Anchor("to[k]en"),), kind="token")
    key = Recorder((Anchor("[k]ey"),), kind="key")
    risk = Recorder((Anchor("ris[k]"),), kind="risk")
    text = "a risky key, no tokens; kkk"
    assert Scanner([token, key, risk]).scan(text) == [
        Finding("risk", 2, 6),
        Finding("key", 8, 11),
        Finding("token", 16, 21),
    ]


def test_a_tail_must_follow_during_the_scan() -> None:
    detector = Recorder((Anchor("i[d]=", rb"\d{3}"),))
    Scanner([detector]).scan("id=12 id=123 id=x")
    assert detector.calls == [(6, 9)]


def test_anchors_matching_at_the_same_place_are_all_woken() -> None:
    short = Recorder((Anchor("s[k]-"),), kind="short")
    longer = Recorder((Anchor("s[k]-ant-"),), kind="longer")
    other = Recorder((Anchor("a[s]k"),), kind="other")
    Scanner([short, longer, other]).scan("sk-ant-x task-")
    assert short.calls == [(0, 3), (11, 14)]
    assert (longer.calls, other.calls) == ([(0, 7)], [(10, 13)])


def test_a_lead_must_come_just_before_the_literal() -> None:
    detector = Recorder((Anchor("[k]ey", lead=rb"[_a-z]"),))
    Scanner([detector]).scan("key api_key apikey -key")
    assert detector.calls == [(8, 11), (15, 18)]


def test_every_detector_owning_an_anchor_is_woken() -> None:
    first = Recorder((Anchor("[x]y"),), kind="first", priority=1)
    second = Recorder((Anchor("[x]y"),), kind="second", priority=2)
    assert Scanner([first, second]).scan("..xy..") == [Finding("second", 2, 4)]
    assert first.calls == second.calls == [(2, 4)]


@dataclass
class Spans:
    """Reports fixed spans, whatever anchor woke it."""

    hits: tuple[Hit, ...]
    anchors: tuple[Anchor, ...] = (Anchor("[!]"),)

    def find_at(self, source: Source, start: int, end: int) -> tuple[Hit, ...]:
        return self.hits


def test_overlaps_go_to_priority_then_length() -> None:
    spans = Spans(
        (
            Hit("short-low", 0, 4, 1),
            Hit("long-low", 0, 10, 1),
            Hit("high", 8, 12, 2),
            Hit("apart", 20, 25, 1),
            Hit("touching", 12, 14, 1),
        )
    )
    assert Scanner([spans]).scan("!" + " " * 30) == [
        Finding("short-low", 0, 4),
        Finding("high", 8, 12),
        Finding("touching", 12, 14),
        Finding("apart", 20, 25),
    ]


def test_offsets_are_characters_even_in_wide_text() -> None:
    detector = Recorder((Anchor("s[e]cret"),))
    text = "ünï 😀 secret ∑ secret"
    assert Scanner([detector]).scan(text) == [
        Finding("seen", m.start(), m.end()) for m in re.finditer("secret", text)
    ]


def test_source_memo_helpers() -> None:
    source = Source(b"abc END x END", b"abc end x end")
    assert source.contains(b"end") and not source.contains(b"zzz")
    found = [source.find_after(b"END", pos) for pos in (0, 2, 5, 6, 11, 13)]
    assert found == [4, 4, 10, 10, -1, -1]
    assert source.first_time("k") and not source.first_time("k")
