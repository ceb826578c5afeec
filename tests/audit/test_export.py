from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.audit.canonical import canonical_text
from moatcode.audit.checkpoint import (
    CheckpointSigner,
    load_or_create_signer,
    public_key_path_for,
)
from moatcode.audit.export import CSV_COLUMNS, export_records
from moatcode.audit.record import hash_record_dict
from moatcode.audit.sink import AuditSink
from moatcode.audit.store import AuditStore
from moatcode.audit.verify import verify_jsonl
from moatcode.events import (
    AssistantTurn,
    ModelRetry,
    Notice,
    SessionEnded,
    SessionStarted,
    ToolCallFinished,
    UserPrompt,
)
from moatcode.types import Message, Usage
from tests.audit.conftest import START, SteppingClock

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


@pytest.fixture
def store_path(tmp_path: Path, clock: SteppingClock) -> Path:
    """A store whose records hold the awkward values: floats, non-ASCII, control characters."""
    path = tmp_path / "audit.db"
    with AuditStore.open(path) as store:
        sink = AuditSink(store, clock=clock)
        sink(SessionStarted("s1", "/wörk", "m", "http://127.0.0.1:1/v1", (), "default"))
        sink(UserPrompt("Fix the bug ✓ — \"quoted\"\ttab\x01 and 😀"))
        sink(AssistantTurn(1, Message("assistant", "done"), Usage(12, 3), "stop", 812.0,
                           "ab" * 32))
        sink(ModelRetry(1, 1, "timeout", 0.0000015))
        sink(ModelRetry(1, 2, "timeout", 2.5e21))
        sink(ToolCallFinished(1, "c1", "bash", True, "x", 1, "cd" * 32, duration_ms=0.25))
        sink(Notice("late"))
        sink(SessionEnded("s1", "success", 1, Usage(12, 3), 1e-7, 123456.789, "ok"))
    return path


def export(path: Path, fmt: str = "jsonl", since: object = None) -> str:
    out = io.StringIO()
    export_records(path, fmt, since, out)  # type: ignore[arg-type]
    return out.getvalue()


def test_jsonl_lines_are_canonical_whole_records(store_path: Path) -> None:
    text = export(store_path)
    lines = text.splitlines()
    with AuditStore.open_readonly(store_path) as store:
        records = list(store.records())
    assert lines == [canonical_text(r.to_dict()) for r in records]
    assert [hash_record_dict(json.loads(line)) for line in lines] == [r.hash for r in records]
    result = verify_jsonl(text.splitlines(keepends=True), name="export")
    assert (result.ok, result.records, result.complete) == (True, 8, True)


def test_since_exports_an_unbroken_tail(store_path: Path) -> None:
    text = export(store_path, since=START + timedelta(seconds=5))
    assert [json.loads(line)["seq"] for line in text.splitlines()] == [5, 6, 7, 8]
    result = verify_jsonl(text.splitlines(), name="export")
    assert (result.ok, result.first_seq, result.complete) == (True, 5, False)


def test_csv_has_the_same_fields(store_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(export(store_path, "csv"))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    with AuditStore.open_readonly(store_path) as store:
        records = list(store.records())
    rebuilt = [
        {**row, "seq": int(row["seq"]), "v": int(row["v"]), "data": json.loads(row["data"])}
        for row in rows
    ]
    assert rebuilt == [r.to_dict() for r in records]
    assert [hash_record_dict(r) for r in rebuilt] == [r.hash for r in records]


def standalone_verifier() -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- standalone-verifier -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/audit.md lost its stand-alone verifier"
    return match.group(1)


def test_the_documented_standalone_verifier_checks_an_export(
    store_path: Path, tmp_path: Path
) -> None:
    script = tmp_path / "verify_export.py"
    script.write_text(standalone_verifier())
    good = tmp_path / "export.jsonl"
    good.write_text(export(store_path), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", str(script), str(good)],
                          capture_output=True, text=True, check=False, timeout=60)
    with AuditStore.open_readonly(store_path) as store:
        head = store.head()
    assert head is not None
    assert (done.returncode, done.stdout, done.stderr) == (
        0, f"ok: 8 records, head {head[1]}\n", ""
    )

    lines = good.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace('"timeout"', '"fine"')
    bad = tmp_path / "edited.jsonl"
    bad.write_text("".join(lines), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", str(script), str(bad)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (1, "line 4: record 4 does not match its hash\n")

    del lines[3]
    cut = tmp_path / "deleted.jsonl"
    cut.write_text("".join(lines), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", str(script), str(cut)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (1, "line 4: record 5 does not follow record 3\n")


def test_documented_checkpoint_check(store_path: Path, tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- checkpoint-check -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/audit.md lost its checkpoint check"
    key_path = tmp_path / "audit-key.pem"
    signer = load_or_create_signer(key_path)
    with AuditStore.open(store_path) as store:
        store.append_checkpoint(session="s1", at=START, sign=signer.sign)
        intruder = CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())
        store.append_checkpoint(session="s1", at=START, sign=intruder.sign)
    script = tmp_path / "check.py"
    script.write_text(match.group(1))
    export_path = tmp_path / "export.jsonl"
    export_path.write_text(export(store_path), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(export_path), str(public_key_path_for(key_path))],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "checkpoint 9 signs record 8: good\n", "checkpoint 10: bad signature\n"
    )
