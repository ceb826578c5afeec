"""Request bodies kept as what each adds to the one before, and given back exactly."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path

import pytest

from moatcode.audit.bodies import (
    MIN_SHARED,
    BodyUnavailable,
    rebuild,
    request_body,
    shared_prefix,
)
from moatcode.audit.report import build_report
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.audit.verify import verify_store
from moatcode.events import ModelRequestSent, SessionEnded, SessionStarted
from moatcode.types import Usage
from tests.audit.conftest import SteppingClock


def test_shared_prefix_agrees_with_a_plain_scan() -> None:
    rng = random.Random(7)
    for _ in range(500):
        a = "".join(rng.choice("ab\u00e9\U0001f600") for _ in range(rng.randrange(0, 40)))
        b = a[:rng.randrange(0, len(a) + 1)] + "".join(
            rng.choice("ab\u00e9") for _ in range(rng.randrange(0, 5)))
        plain = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                     min(len(a), len(b)))
        assert shared_prefix(a, b) == plain


def body(turns: int, extra: str = "") -> str:
    """A chat request as the agent sends it: each one the previous one plus a turn."""
    messages = [{"role": "system", "content": "You are Moat. " * 40}]
    messages += [{"role": "user", "content": f"turn {i} \u00e9\u00e8 " * 20} for i in range(turns)]
    return json.dumps({"model": "m", "stream": True, "messages": messages},
                      ensure_ascii=False, separators=(",", ":")) + extra


def request(step: int, text: str) -> ModelRequestSent:
    raw = text.encode()
    return ModelRequestSent(step, "http://127.0.0.1:1/v1", "m", len(raw), len(raw) // 4,
                            hashlib.sha256(raw).hexdigest(), text)


def started(session: str) -> SessionStarted:
    return SessionStarted(session, "/w", "m", "http://127.0.0.1:1/v1", ("read_file",), "default")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


def test_a_session_keeps_each_body_once_and_gives_every_one_back(
    path: Path, clock: SteppingClock
) -> None:
    compacted = json.dumps({"model": "m", "messages": [{"role": "user", "content": "summary"}]})
    bodies = [body(1), body(2), body(3), compacted, compacted[:-2] + ',{"role":"user"}]}']
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock)
        sink(started("s1"))
        for step, text in enumerate(bodies, 1):
            sink(request(step, text))
        sink(SessionEnded("s1", "success", 5, Usage(1, 1), 1.0, 1.0, "done"))
        sink(started("s2"))
        sink(request(1, body(3)))  # another session starts from a whole body
        records = [r for r in store.records() if r.kind == "model_request"]
    layout = [("body" in r.data, r.data.get("body_base")) for r in records]
    seqs = [r.seq for r in records]
    # Whole, then deltas on the one before; the compaction starts over (too little shared
    # with what came before); a new session starts whole.
    assert layout == [(True, None), (False, seqs[0]), (False, seqs[1]), (True, None),
                      (True, None), (True, None)]
    assert sum(len(r.data.get("body", r.data.get("body_rest", ""))) for r in records[:3]) < (
        len(bodies[2]) * 1.5)
    for record, text in zip(records, [*bodies, body(3)], strict=True):
        assert request_body(path, record.seq) == text
    assert verify_store(path).ok
    report = build_report(path, "s1")
    assert [r.body_recorded for r in report.requests] == [True] * 5


def test_a_body_that_does_not_rebuild_exactly_is_refused(path: Path,
                                                         clock: SteppingClock) -> None:
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock)
        sink(started("s1"))
        sink(request(1, body(1)))
        sink(request(2, body(2)))
        base, delta = [r for r in store.records() if r.kind == "model_request"]
    data = dict(delta.data, body_rest=delta.data["body_rest"].replace("turn", "tern"))

    def lookup(seq: int) -> dict[str, object] | None:
        return base.data if seq == base.seq else None

    with pytest.raises(BodyUnavailable, match="does not match its body_sha256"):
        rebuild(data, lookup, delta.seq)
    with pytest.raises(BodyUnavailable, match="not in the store"):
        rebuild(delta.data, lambda seq: None, delta.seq)
    with pytest.raises(BodyUnavailable, match="cannot come before it"):
        rebuild(dict(delta.data, body_base=delta.seq), lookup, delta.seq)
    # An edit of the stored text is also what `moat audit verify` reports.
    db = sqlite3.connect(path)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("UPDATE records SET data = replace(data, 'turn 1', 'tern 1') WHERE seq = ?",
               (delta.seq,))
    db.commit()
    db.close()
    with pytest.raises(BodyUnavailable, match="does not match"):
        request_body(path, delta.seq)
    assert not verify_store(path).ok


def test_short_or_hash_only_bodies(path: Path, clock: SteppingClock) -> None:
    short = '{"model":"m","messages":[]}'
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock)
        sink(started("s1"))
        sink(request(1, short))
        sink(request(2, short[:-2] + ',{"role":"user","content":"x"}]}'))
        hashed = AuditSink(store, clock=clock, store_requests="hash")
        hashed(request(3, body(4)))
        records = [r for r in store.records() if r.kind == "model_request"]
    assert len(short) < MIN_SHARED and all("body" in r.data for r in records[:2])
    with pytest.raises(BodyUnavailable, match="hash only"):
        request_body(path, records[2].seq)
    with pytest.raises(BodyUnavailable, match="not a model request"):
        request_body(path, 1)


@pytest.mark.parametrize("damage", [
    {"body_base": "1"}, {"body_base": [1]}, {"body_shared": -1}, {"body_rest": 5},
    {"body_sha256": None},
])
def test_a_malformed_record_is_refused_in_a_sentence(damage: dict[str, object]) -> None:
    base = {"body": "x" * 300, "body_sha256": hashlib.sha256(b"x" * 300).hexdigest()}
    good = {"body_base": 1, "body_shared": 300, "body_rest": "y",
            "body_sha256": hashlib.sha256(b"x" * 300 + b"y").hexdigest()}
    assert rebuild(good, lambda seq: base, 2) == "x" * 300 + "y"
    with pytest.raises(BodyUnavailable):
        rebuild({**good, **damage}, lambda seq: base, 2)
