"""Walking a hash chain and naming the first thing wrong with it.

Pure logic over ``Link`` values (what a record contributes to the chain) in the
order they are stored, whatever the source: a store's rows or an export's
lines. The walk stops at the first problem and classifies it:

``edited``
    a record's hash does not match its content, or a record was changed and
    its own hash recomputed (the next record no longer links to it);
``deleted``
    a gap in ``seq`` where the record after the gap does not link back;
``inserted``
    an extra record: a duplicated ``seq``, or a record the chain skips over
    (the record after it links to the one before it);
``reordered``
    a record out of ``seq`` order that links correctly elsewhere (a swap);
``forged_checkpoint``
    a checkpoint that does not sign the record before it, or whose signature
    does not verify;
``truncated``
    records at the end that no valid checkpoint covers: the tail was cut off
    (and perhaps re-chained by someone without the signing key), or the last
    session is still running or was killed before it closed;
``unsupported``
    a record format version this code does not know.

Checkpoints are checked in two parts: the structure here (a checkpoint signs
exactly the ``seq`` and ``hash`` of the record before it), the signature by a
callback, so that this module needs no cryptography.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from moatcode.audit.record import CHECKPOINT_KIND, GENESIS_HASH

ProblemKind = Literal[
    "edited",
    "deleted",
    "inserted",
    "reordered",
    "truncated",
    "forged_checkpoint",
    "torn",
    "unsupported",
]


class Link(NamedTuple):
    """What one stored record contributes to the chain walk.

    ``error`` says why the record cannot be trusted on its own (its hash does
    not match its content, or it could not be read at all); ``seq`` is None
    only then. ``checkpoint`` is the data of a checkpoint record. A named
    tuple rather than a frozen dataclass: one is built per record verified,
    and a tuple is several times cheaper to build.
    """

    position: int
    seq: int | None
    prev_hash: str
    hash: str
    kind: str
    error: str | None = None
    checkpoint: Mapping[str, Any] | None = None
    error_kind: ProblemKind = "edited"


@dataclass(frozen=True)
class Problem:
    """The first bad record: what is wrong, its ``seq`` and its 1-based position."""

    kind: ProblemKind
    seq: int | None
    position: int
    detail: str


@dataclass(frozen=True)
class ChainSummary:
    records: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str | None
    from_genesis: bool
    checkpoints: int
    signatures_checked: bool
    last_checkpoint_seq: int | None
    problem: Problem | None


# Returns why a checkpoint's signature is bad, or None when it verifies.
CheckSignature = Callable[[Mapping[str, Any]], str | None]


def walk_chain(
    links: Iterable[Link],
    *,
    expect_genesis: bool,
    check_signature: CheckSignature | None = None,
) -> ChainSummary:
    """Walk ``links`` in stored order and report the first problem.

    ``expect_genesis`` is true for a whole store (the first record must be seq
    1 chained to the genesis hash); an export made ``--since`` a time starts
    wherever it starts. With ``check_signature`` every checkpoint's signature
    is checked and records after the last valid checkpoint are ``truncated``;
    without it, checkpoints are checked for structure only and the tail rule
    applies only once the chain holds a checkpoint.
    """
    items = iter(links)
    count = 0
    first: Link | None = None
    prev: Link | None = None
    checkpoints = 0
    last_checkpoint: int | None = None
    problem: Problem | None = None
    for link in items:
        count += 1
        if prev is None or link.error is not None:
            problem = _problem_at(link, prev, expect_genesis)
        elif not _links(prev, link):
            problem = _classify(prev, link, items)
        if problem is None and link.kind == CHECKPOINT_KIND:
            problem = _check_checkpoint(link, check_signature)
            if problem is None:
                checkpoints += 1
                last_checkpoint = link.seq
        if problem is not None:
            count += sum(1 for _ in items)
            break
        first = first or link
        prev = link
    if problem is None and prev is not None and prev.seq is not None:
        problem = _check_tail(prev, first, last_checkpoint, checkpoints, check_signature)
    return ChainSummary(
        records=count,
        first_seq=first.seq if first else None,
        last_seq=prev.seq if prev else None,
        head_hash=prev.hash if prev else None,
        from_genesis=first is not None and first.seq == 1 and first.prev_hash == GENESIS_HASH,
        checkpoints=checkpoints,
        signatures_checked=check_signature is not None,
        last_checkpoint_seq=last_checkpoint,
        problem=problem,
    )


def _links(prev: Link, link: Link) -> bool:
    """Whether ``link`` follows ``prev`` in number and in hash."""
    return (
        prev.seq is not None and link.seq == prev.seq + 1 and link.prev_hash == prev.hash
    )


def _problem_at(link: Link, prev: Link | None, expect_genesis: bool) -> Problem | None:
    """The problem a record has on its own, or as the first of the chain."""
    if link.error is not None or link.seq is None:
        return Problem(link.error_kind, link.seq, link.position, link.error or "unreadable.")
    if prev is not None or not expect_genesis:
        return None
    if link.seq > 1:
        return Problem(
            "deleted", 1, link.position,
            f"records 1 to {link.seq - 1} are missing: the store starts at {link.seq}.",
        )
    if link.seq < 1 or link.prev_hash != GENESIS_HASH:
        return Problem(
            "edited", link.seq, link.position,
            "the first record does not start the chain (seq 1 after the genesis hash).",
        )
    return None


def _check_checkpoint(link: Link, check_signature: CheckSignature | None) -> Problem | None:
    data = link.checkpoint
    assert link.seq is not None
    if data is None or data.get("seq") != link.seq - 1 or data.get("hash") != link.prev_hash:
        return Problem(
            "forged_checkpoint", link.seq, link.position,
            f"checkpoint {link.seq} does not sign the record before it.",
        )
    if check_signature is None:
        return None
    why = check_signature(data)
    if why is None:
        return None
    return Problem("forged_checkpoint", link.seq, link.position, f"checkpoint {link.seq}: {why}")


def _check_tail(
    last: Link,
    first: Link | None,
    last_checkpoint: int | None,
    checkpoints: int,
    check_signature: CheckSignature | None,
) -> Problem | None:
    assert last.seq is not None
    if last_checkpoint == last.seq:
        return None
    if check_signature is None and checkpoints == 0:
        return None  # no checkpoints to go by: truncation cannot be told apart
    start = last_checkpoint + 1 if last_checkpoint is not None else (first.seq if first else 1)
    where = (
        f"come after the last valid checkpoint ({last_checkpoint})"
        if last_checkpoint is not None
        else "are not covered by any valid checkpoint"
    )
    return Problem(
        "truncated", start, last.position,
        f"records {start} to {last.seq} {where}: the log was cut off and perhaps "
        "re-chained, or the last session is still running or was killed before it closed.",
    )


@dataclass
class _Ahead:
    """What the records after a break say about it, gathered in one pass."""

    next: Link | None = None
    missing_later: Link | None = None  # the later record with the lowest missing seq
    chains_to_it: bool = False  # a later record links to the breaking record
    it_chains_to: bool = False  # the breaking record links to a later one


def _look_ahead(rest: Iterator[Link], link: Link, lo: int, hi: int) -> _Ahead:
    ahead = _Ahead()
    for other in rest:
        if ahead.next is None:
            ahead.next = other
        if other.seq is not None and lo <= other.seq < hi and (
            ahead.missing_later is None or other.seq < (ahead.missing_later.seq or 0)
        ):
            ahead.missing_later = other
        ahead.chains_to_it = ahead.chains_to_it or other.prev_hash == link.hash
        ahead.it_chains_to = ahead.it_chains_to or other.hash == link.prev_hash
    return ahead


def _classify(prev: Link, link: Link, rest: Iterator[Link]) -> Problem:
    """Name what broke the chain between ``prev`` (good) and ``link`` (hash intact).

    Consumes ``rest``: the decision needs to know whether the missing records
    turn up later and who links to whom.
    """
    assert prev.seq is not None and link.seq is not None
    seq, pos = link.seq, link.position
    ahead = _look_ahead(rest, link, prev.seq + 1, link.seq)
    nxt = ahead.next
    relinks = nxt is not None and nxt.prev_hash == prev.hash and nxt.seq == prev.seq + 1
    if seq == prev.seq:
        genuine = nxt is not None and nxt.prev_hash == link.hash  # the chain goes on from it
        if link.hash != prev.hash and genuine and link.prev_hash == prev.prev_hash:
            return Problem(
                "inserted", prev.seq, prev.position,
                f"the record at position {prev.position} is an extra record {prev.seq}: "
                "the chain continues from the one after it.",
            )
        return Problem("inserted", seq, pos, f"a second record {seq} follows record {prev.seq}.")
    if seq < prev.seq:
        return Problem("reordered", seq, pos, f"record {seq} comes after record {prev.seq}.")
    if seq == prev.seq + 1:
        if relinks:
            return Problem(
                "inserted", seq, pos,
                f"an extra record {seq} sits here: the next record links to record {prev.seq}.",
            )
        if nxt is not None and nxt.prev_hash == link.hash:
            return Problem(
                "edited", prev.seq, prev.position,
                f"record {prev.seq} was changed and its hash recomputed: record {seq} "
                "was chained to a different record.",
            )
        return Problem("edited", seq, pos, f"record {seq} does not link to record {prev.seq}.")
    # A gap: records prev.seq+1 .. seq-1 are not here.
    if ahead.missing_later is not None and (ahead.chains_to_it or ahead.it_chains_to):
        return Problem(
            "reordered", seq, pos,
            f"record {seq} comes before record {ahead.missing_later.seq}.",
        )
    if relinks or ahead.missing_later is not None:
        return Problem(
            "inserted", seq, pos,
            f"an extra record {seq} sits here: the next record links to record {prev.seq}.",
        )
    if link.prev_hash == prev.hash:
        return Problem(
            "edited", seq, pos,
            f"record {seq} links to record {prev.seq} but its number was changed.",
        )
    missing = (
        f"record {prev.seq + 1} is" if seq == prev.seq + 2
        else f"records {prev.seq + 1} to {seq - 1} are"
    )
    return Problem("deleted", prev.seq + 1, pos, f"{missing} missing before record {seq}.")
