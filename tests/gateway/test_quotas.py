"""Quota windows: what counts, when a request is refused, and for how long."""

from __future__ import annotations

from moatcode.gateway.identity import Principal, Team
from moatcode.gateway.quotas import QuotaBook, QuotaRefusal, usage_increments, window_keys

T = 1_700_000_010.0  # 30 s into a minute


def principal(**limits: int) -> Principal:
    return Principal("ann", Team("eng", ("*",), **limits), "tok")  # type: ignore[arg-type]


def test_a_request_is_refused_once_the_window_is_used_up() -> None:
    book = QuotaBook()
    who = principal(user_tpm=100, team_tpd=1000)
    assert book.check(who, T) is None
    book.add_unwritten(usage_increments("ann", "eng", 99, T))
    assert book.check(who, T) is None
    book.add_unwritten(usage_increments("ann", "eng", 1, T))
    assert book.check(who, T) == QuotaRefusal("user_tpm", 100, 100, 30)
    assert book.check(who, T + 30) is None  # a new minute


def test_written_usage_moves_to_the_stored_view_and_other_replicas_count() -> None:
    book = QuotaBook()
    increments = usage_increments("ann", "eng", 40, T)
    book.add_unwritten(increments)
    book.written([increments])
    user_minute, user_day = window_keys("user", "ann", T)
    assert (book.used(user_minute), book.used(user_day)) == (40, 40)
    # Another replica's traffic arrives with the next read of the shared counters.
    team_minute, _ = window_keys("team", "eng", T)
    book.replace_stored({team_minute: 500})
    refusal = book.check(principal(team_tpm=500), T)
    assert refusal is not None and refusal.limit_name == "team_tpm"
    assert book.used(user_minute) == 0  # replaced: the read includes what this replica wrote


def test_no_tokens_no_increments() -> None:
    assert usage_increments("ann", "eng", 0, T) == {}
