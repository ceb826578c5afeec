from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.audit.chain import Problem
from moatcode.audit.checkpoint import CheckpointSigner, key_id, load_public_key
from moatcode.audit.record import body_text, hash_body
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.audit.verify import VerifyResult, verify_jsonl, verify_store
from moatcode.errors import AuditUnavailable
from moatcode.events import Notice, SessionEnded, SessionStarted
from moatcode.types import Usage
from tests.audit.conftest import SteppingClock, make_chain, make_record, to_lines


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())


@pytest.fixture
def public_key(tmp_path: Path, signer: CheckpointSigner) -> Path:
    path = tmp_path / "audit.pub"
    path.write_bytes(signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ))
    return path


@pytest.fixture
def store_path(tmp_path: Path, clock: SteppingClock, signer: CheckpointSigner) -> Path:
    """A closed store of 12 records: two sessions, each ending in a checkpoint."""
    path = tmp_path / "audit.db"
    with AuditStore.open(path) as store:
        for session in ("s1", "s2"):
            sink = AuditSink(store, clock=clock, signer=signer)
            sink(SessionStarted(session, "/w", "m", "http://127.0.0.1:1/v1", (), "default"))
            for i in range(3):
                sink(Notice(f"{session} note {i}"))
            sink(SessionEnded(session, "success", 1, Usage(), 1.0, 1.0, "ok"))
    return path


def tamper(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Edit the store by hand, as someone who drops the triggers would."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("DROP TRIGGER records_no_update")
        db.execute("DROP TRIGGER records_no_delete")
        db.execute("DROP INDEX records_seq")
        for sql, params in statements:
            db.execute(sql, params)
    finally:
        db.close()


def row(path: Path, seq: int) -> tuple[Any, ...]:
    db = sqlite3.connect(path)
    try:
        found = db.execute(
            "SELECT seq, v, at, session, kind, data, prev_hash, hash FROM records WHERE seq = ?",
            (seq,),
        ).fetchone()
        assert found is not None
        return tuple(found)
    finally:
        db.close()


def test_intact_store(store_path: Path, public_key: Path, signer: CheckpointSigner) -> None:
    result = verify_store(store_path, public_key)
    assert result == VerifyResult(
        path=str(store_path), format="store", records=12, first_seq=1, last_seq=12,
        head_hash=row(store_path, 12)[7], complete=True, checkpoints=2,
        last_checkpoint_seq=12, signed_by=signer.key_id, problem=None,
    )
    assert result.ok


def test_store_edited_field(store_path: Path) -> None:
    tamper(store_path, ("UPDATE records SET data = ? WHERE seq = 3", ('{"message":"calm"}',)))
    assert verify_store(store_path).problem == Problem(
        "edited", 3, 3, "its hash does not match its content."
    )


def test_store_deleted_record(store_path: Path) -> None:
    tamper(store_path, ("DELETE FROM records WHERE seq = 4", ()))
    assert verify_store(store_path).problem == Problem(
        "deleted", 4, 5, "record 4 is missing before record 5."
    )


def test_store_inserted_record(store_path: Path) -> None:
    prev_hash = row(store_path, 3)[7]
    body = body_text(v=1, seq=4, at="2025-03-01T09:00:03.500000Z", session="s1", kind="notice",
                     data_json='{"message":"all fine"}', prev_hash="f" * 64)
    tamper(
        store_path,
        ("UPDATE records SET pos = pos + 100 WHERE pos >= 4", ()),
        ("UPDATE records SET pos = pos - 99 WHERE pos >= 104", ()),
        ("INSERT INTO records VALUES (4, 4, 1, '2025-03-01T09:00:03.500000Z', 's1', 'notice',"
         " '{\"message\":\"all fine\"}', ?, ?)", ("f" * 64, hash_body("f" * 64, body))),
    )
    assert prev_hash != "f" * 64
    assert verify_store(store_path).problem == Problem(
        "inserted", 4, 4, "an extra record 4 sits here: the next record links to record 3."
    )


def test_store_swapped_records(store_path: Path) -> None:
    three, four = row(store_path, 3), row(store_path, 4)
    columns = "seq = ?, v = ?, at = ?, session = ?, kind = ?, data = ?, prev_hash = ?, hash = ?"
    tamper(
        store_path,
        (f"UPDATE records SET {columns} WHERE pos = 3", four),
        (f"UPDATE records SET {columns} WHERE pos = 4", three),
    )
    assert verify_store(store_path).problem == Problem(
        "reordered", 4, 3, "record 4 comes before record 3."
    )


def test_store_truncated(store_path: Path, public_key: Path) -> None:
    tamper(store_path, ("DELETE FROM records WHERE seq > 9", ()))
    expected = Problem(
        "truncated", 7, 9,
        "records 7 to 9 come after the last valid checkpoint (6): the log was cut off and "
        "perhaps re-chained, or the last session is still running or was killed before it "
        "closed.",
    )
    assert verify_store(store_path, public_key).problem == expected
    assert verify_store(store_path).problem == expected


def test_store_tail_rechained_without_the_key(
    store_path: Path, public_key: Path, clock: SteppingClock
) -> None:
    # Cut the second session, then write a harmless one with Moat's own code (no key).
    tamper(store_path, ("DELETE FROM records WHERE seq > 6", ()))
    with AuditStore.open(store_path) as store:
        sink = AuditSink(store, clock=clock)
        sink(SessionStarted("s2", "/w", "m", "http://127.0.0.1:1/v1", (), "default"))
        sink(Notice("nothing to see"))
        sink(SessionEnded("s2", "success", 1, Usage(), 1.0, 1.0, "ok"))
    assert verify_store(store_path, public_key).problem == Problem(
        "truncated", 7, 9,
        "records 7 to 9 come after the last valid checkpoint (6): the log was cut off and "
        "perhaps re-chained, or the last session is still running or was killed before it "
        "closed.",
    )


def test_store_checkpoint_forged_with_another_key(
    store_path: Path, public_key: Path, clock: SteppingClock
) -> None:
    intruder = CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())
    with AuditStore.open(store_path) as store:
        sink = AuditSink(store, clock=clock, signer=intruder)
        sink(Notice("appended later"))
        sink.close()
    assert verify_store(store_path, public_key).problem == Problem(
        "forged_checkpoint", 14, 14,
        f"checkpoint 14: it names key {intruder.key_id!r}, not the given key "
        f"{public_key_id(public_key)}.",
    )


def public_key_id(path: Path) -> str:
    return key_id(load_public_key(path))


def test_store_field_of_the_wrong_type(store_path: Path) -> None:
    tamper(store_path, ("UPDATE records SET seq = 'five' WHERE seq = 5", ()))
    assert verify_store(store_path).problem == Problem(
        "edited", None, 5, "a field has the wrong type."
    )


def test_store_unknown_version(store_path: Path) -> None:
    tamper(store_path, ("UPDATE records SET v = 2 WHERE seq = 2", ()))
    assert verify_store(store_path).problem == Problem(
        "unsupported", 2, 2, "record format version 2 is unknown to this Moat."
    )


def test_empty_store(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditStore.open(path).close()
    result = verify_store(path)
    assert (result.ok, result.records, result.complete) == (True, 0, False)


# -- exports ----------------------------------------------------------------------


def test_jsonl_intact_and_partial() -> None:
    records = make_chain(6)
    whole = verify_jsonl(to_lines(records), name="x.jsonl")
    assert (whole.ok, whole.records, whole.complete) == (True, 6, True)
    tail = verify_jsonl(to_lines(records[3:]), name="x.jsonl")
    assert (tail.ok, tail.records, tail.first_seq, tail.complete) == (True, 3, 4, False)


def test_jsonl_torn_last_line_is_not_tampering() -> None:
    lines = list(to_lines(make_chain(6)))
    lines[-1] = lines[-1][:40]
    result = verify_jsonl(lines, name="x.jsonl")
    assert (result.ok, result.records, result.last_seq) == (True, 5, 5)
    assert result.torn == Problem(
        "torn", None, 6, "the last line is incomplete: the writer stopped mid-record."
    )


def test_jsonl_complete_last_line_without_newline() -> None:
    lines = list(to_lines(make_chain(3)))
    lines[-1] = lines[-1].rstrip("\n")
    result = verify_jsonl(lines, name="x.jsonl")
    assert (result.ok, result.records, result.torn) == (True, 3, None)


def test_jsonl_broken_line_in_the_middle_is_tampering() -> None:
    lines = list(to_lines(make_chain(6)))
    lines[2] = lines[2][:30] + "\n"
    assert verify_jsonl(lines, name="x.jsonl").problem == Problem(
        "edited", None, 3, "line 3 is not an audit record."
    )


def test_jsonl_extra_field_is_tampering() -> None:
    records = make_chain(4)
    records[1] = {**records[1], "note": "added"}
    assert verify_jsonl(to_lines(records), name="x.jsonl").problem == Problem(
        "edited", None, 2, "line 2 is not an audit record."
    )


def test_jsonl_unknown_version() -> None:
    records = make_chain(3)
    records[2] = make_record(3, records[1]["hash"]) | {"v": 9}
    assert verify_jsonl(to_lines(records), name="x.jsonl").problem == Problem(
        "unsupported", 3, 3, "record format version 9 is unknown to this Moat."
    )


def test_jsonl_reserialized_lines_still_verify() -> None:
    records = make_chain(3)
    lines = [json.dumps(dict(reversed(r.items()))) + "\n" for r in records]
    result = verify_jsonl(lines, name="x.jsonl")
    assert (result.ok, result.records) == (True, 3)


def test_jsonl_duplicate_keys_are_tampering() -> None:
    records = make_chain(3)
    lines = list(to_lines(records))
    # A reader that takes the first "data" shows one thing; the hash covers the last.
    lines[1] = lines[1].replace('{"at"', '{"data":{"message":"all calm"},"at"', 1)
    assert verify_jsonl(lines, name="x.jsonl").problem == Problem(
        "edited", 2, 2, "line 2 has a key twice."
    )


def test_export_file_found_by_content(tmp_path: Path) -> None:
    path = tmp_path / "audit.db.jsonl"
    path.write_text("".join(to_lines(make_chain(5))))
    result = verify_store(path)
    assert (result.format, result.ok, result.records) == ("jsonl", True, 5)


def test_empty_export(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert verify_store(path) == VerifyResult(
        path=str(path), format="jsonl", records=0, first_seq=None, last_seq=None,
        head_hash=None, complete=False, checkpoints=0, last_checkpoint_seq=None,
        signed_by=None, problem=None,
    )


@pytest.mark.parametrize(
    "content",
    ["just some text\nmore text\n", '{"name": "package.json"}\n', "[1, 2, 3]\n", "\x00\x01"],
)
def test_not_a_moat_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "file"
    path.write_text(content)
    with pytest.raises(AuditUnavailable) as error:
        verify_store(path)
    assert str(error.value) == (
        f"{path} is not a Moat audit store or an export of one; check the path."
    )


def test_sqlite_file_of_another_program(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(AuditUnavailable, match="is not a Moat audit store"):
        verify_store(path)


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(AuditUnavailable, match="Cannot read"):
        verify_store(tmp_path / "missing.db")
