from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.audit.checkpoint import CheckpointSigner, signature_checker
from moatcode.audit.sink import AuditSink, event_data
from moatcode.audit.store import AuditStore
from moatcode.audit.verify import verify_store
from moatcode.events import (
    ModelRequestSent,
    ModelRetry,
    Notice,
    ReasoningDelta,
    SessionEnded,
    SessionStarted,
    TextDelta,
    UserPrompt,
)
from moatcode.types import Source, Usage
from tests.audit.conftest import SteppingClock

REQUEST = ModelRequestSent(
    step=1, endpoint="http://127.0.0.1:8000/v1", model="qwen", request_bytes=120,
    estimated_tokens=30, body_sha256="ab" * 32, body='{"messages":[]}',
    sources=(Source("file", "src/app.py", 1, 20),),
)
REQUEST_DATA = {
    "step": 1, "endpoint": "http://127.0.0.1:8000/v1", "model": "qwen", "request_bytes": 120,
    "estimated_tokens": 30, "body_sha256": "ab" * 32, "body": '{"messages":[]}',
    "sources": [{"kind": "file", "ref": "src/app.py", "start_line": 1, "end_line": 20}],
    "redactions": [],
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with AuditStore.open(tmp_path / "audit.db") as opened:
        yield opened


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())


def started(session: str = "sess-1") -> SessionStarted:
    return SessionStarted(session, "/work", "qwen", "http://127.0.0.1:8000/v1", ("read_file",),
                          "default")


def ended(session: str = "sess-1") -> SessionEnded:
    return SessionEnded(session, "success", 1, Usage(10, 5), 100.0, 80.0, "done")


def test_event_data() -> None:
    assert event_data(REQUEST) == REQUEST_DATA
    assert event_data(REQUEST, "hash") == {k: v for k, v in REQUEST_DATA.items() if k != "body"}
    assert event_data(TextDelta("he")) is None
    assert event_data(ReasoningDelta("hmm")) is None
    assert event_data(Notice("hello")) == {"message": "hello"}


def test_records_each_event_for_its_session(store: AuditStore, clock: SteppingClock) -> None:
    sink = AuditSink(store, clock=clock)
    for event in (started(), TextDelta("x"), UserPrompt("fix it"), REQUEST, ended()):
        sink(event)
    rows = [(r.seq, r.session, r.kind, r.data) for r in store.records()]
    assert rows[1:] == [
        (2, "sess-1", "user_prompt", {"text": "fix it"}),
        (3, "sess-1", "model_request", REQUEST_DATA),
        (4, "sess-1", "session_ended", event_data(ended())),
    ]
    assert rows[0][:3] == (1, "sess-1", "session_started")
    assert [r.at for r in store.records()] == [
        f"2025-03-01T09:00:0{n}.000000Z" for n in range(1, 5)
    ]


def test_request_bodies_kept_as_hash_only(store: AuditStore, clock: SteppingClock) -> None:
    AuditSink(store, clock=clock, store_requests="hash")(REQUEST)
    (record,) = store.records()
    assert "body" not in record.data
    assert record.data["body_sha256"] == "ab" * 32


def test_checkpoints_at_session_end_every_n_and_on_close(
    store: AuditStore, clock: SteppingClock, signer: CheckpointSigner
) -> None:
    sink = AuditSink(store, clock=clock, signer=signer, checkpoint_every=3)
    sink(started())
    for i in range(4):
        sink(Notice(f"n{i}"))
    sink(ended())
    sink.close()  # nothing unsigned: no extra checkpoint
    second = AuditSink(store, clock=clock, signer=signer)
    second(started("sess-2"))
    second.close()  # killed before session_ended, but closed: still signed
    kinds = [r.kind for r in store.records()]
    assert kinds == [
        "session_started", "notice", "notice", "checkpoint",
        "notice", "notice", "session_ended", "checkpoint",
        "session_started", "checkpoint",
    ]
    public = signer.private_key.public_key()
    last = list(store.records())[-1]
    assert last.session == "sess-2"
    assert signature_checker(public)(last.data) is None


def test_closed_store_verifies_with_the_key(
    tmp_path: Path, clock: SteppingClock, signer: CheckpointSigner
) -> None:
    path = tmp_path / "audit.db"
    key_path = tmp_path / "key.pub"
    key_path.write_bytes(signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ))
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock, signer=signer)
        sink(started())
        sink(Notice("hi"))
        sink(ended())
    result = verify_store(path, key_path)
    assert (result.ok, result.checkpoints, result.last_checkpoint_seq, result.signed_by) == (
        True, 1, 4, signer.key_id
    )


def test_text_that_is_not_valid_unicode_is_scrubbed(
    store: AuditStore, clock: SteppingClock
) -> None:
    sink = AuditSink(store, clock=clock)
    sink(UserPrompt("broken \ud83d half"))
    sink(ModelRetry(1, 2, "timeout", math.nan))
    assert [r.data for r in store.records()] == [
        {"text": "broken \ufffd half"},
        {"step": 1, "attempt": 2, "reason": "timeout", "delay_s": None},
    ]
