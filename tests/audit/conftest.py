"""Shared pieces for the audit tests: a stepping clock and hand-built chains."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from moatcode.audit.canonical import canonical_text
from moatcode.audit.checkpoint import CheckpointSigner
from moatcode.audit.record import GENESIS_HASH, format_at, hash_record_dict

START = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)


class SteppingClock:
    """A clock that moves one second each time it is read."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


def make_record(
    seq: int, prev_hash: str, *, kind: str = "notice", data: dict[str, Any] | None = None,
    session: str = "s1",
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "v": 1,
        "seq": seq,
        "at": format_at(START + timedelta(seconds=seq)),
        "session": session,
        "kind": kind,
        "data": {"message": f"note {seq}"} if data is None else data,
        "prev_hash": prev_hash,
    }
    record["hash"] = hash_record_dict(record)
    return record


def make_chain(
    count: int, *, signer: CheckpointSigner | None = None, checkpoint_every: int = 0
) -> list[dict[str, Any]]:
    """``count`` chained records; with a signer, a checkpoint every N and at the end."""
    records: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        prev = records[-1]["hash"] if records else GENESIS_HASH
        records.append(make_record(len(records) + 1, prev))
        if signer and checkpoint_every and n % checkpoint_every == 0:
            add_checkpoint(records, signer)
    if signer and records[-1]["kind"] != "checkpoint":
        add_checkpoint(records, signer)
    return records


def add_checkpoint(records: list[dict[str, Any]], signer: CheckpointSigner) -> None:
    last = records[-1]
    data = signer.sign(last["seq"], last["hash"])
    records.append(make_record(last["seq"] + 1, last["hash"], kind="checkpoint", data=data))


def rechain(records: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """What someone without the key does after a change: renumber and re-hash from ``start``."""
    out = [dict(r) for r in records]
    for i in range(start, len(out)):
        prev = out[i - 1]["hash"] if i else GENESIS_HASH
        out[i]["seq"] = out[i - 1]["seq"] + 1 if i else 1
        out[i]["prev_hash"] = prev
        out[i]["hash"] = hash_record_dict(out[i])
    return out


def to_lines(records: list[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield canonical_text(record) + "\n"
