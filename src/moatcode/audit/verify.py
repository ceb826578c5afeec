"""Verifying an audit store or a JSON-lines export of one.

``verify_store`` tells the two apart by content (an SQLite header, or JSON
lines), turns each record into a ``Link`` (recomputing its hash), and lets
``chain.walk_chain`` name the first problem. A last export line that is not
complete JSON is reported as ``torn`` (a writer stopped mid-line), not as
tampering. A file that is neither says so plainly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from moatcode.audit.chain import CheckSignature, Link, Problem, walk_chain
from moatcode.audit.checkpoint import key_id, load_public_key, signature_checker
from moatcode.audit.jsonl import JsonlReader
from moatcode.audit.record import CHECKPOINT_KIND, RECORD_VERSION, body_text, hash_body
from moatcode.audit.store import AuditStore, StoredRow
from moatcode.errors import AuditUnavailable

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class VerifyResult:
    """What verification found. ``ok`` when nothing is wrong with the chain."""

    path: str
    format: Literal["store", "jsonl"]
    records: int  # records read, including any after the problem
    # The stretch that verified: from the first record to the last good one.
    first_seq: int | None
    last_seq: int | None
    head_hash: str | None
    # The first record is seq 1 after the genesis hash; an export --since is not.
    complete: bool
    # Checkpoints that passed; their signatures were checked when signed_by is set.
    checkpoints: int
    last_checkpoint_seq: int | None
    signed_by: str | None
    problem: Problem | None
    torn: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_store(path: Path, public_key_path: Path | None = None) -> VerifyResult:
    """Verify the store or export at ``path``, checking checkpoints with the given key."""
    public_key = load_public_key(public_key_path) if public_key_path is not None else None
    check = signature_checker(public_key) if public_key is not None else None
    signed_by = key_id(public_key) if public_key is not None else None
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise AuditUnavailable(
            f"Cannot read {path} ({exc.strerror or exc}); check the path and its permissions."
        ) from exc
    if head == _SQLITE_MAGIC:
        with AuditStore.open_readonly(path) as store:
            links = (_row_link(row) for row in store.rows())
            summary = walk_chain(links, expect_genesis=True, check_signature=check)
        return VerifyResult(
            str(path), "store", summary.records, summary.first_seq, summary.last_seq,
            summary.head_hash, summary.from_genesis, summary.checkpoints,
            summary.last_checkpoint_seq, signed_by, summary.problem,
        )
    # surrogateescape: bytes that are not UTF-8 make their line fail to verify, not the read.
    with path.open(encoding="utf-8", errors="surrogateescape", newline="\n") as handle:
        return verify_jsonl(handle, name=str(path), check_signature=check, signed_by=signed_by)


def verify_jsonl(
    lines: Iterable[str],
    *,
    name: str,
    check_signature: CheckSignature | None = None,
    signed_by: str | None = None,
) -> VerifyResult:
    """Verify an export given as lines (each with or without its newline)."""
    reader = JsonlReader(iter(lines))
    summary = walk_chain(reader.links(), expect_genesis=False, check_signature=check_signature)
    if reader.not_moat:
        raise _not_moat(Path(name))
    return VerifyResult(
        name, "jsonl", summary.records, summary.first_seq, summary.last_seq,
        summary.head_hash, summary.from_genesis, summary.checkpoints,
        summary.last_checkpoint_seq, signed_by, summary.problem, reader.torn,
    )


def _row_link(row: StoredRow) -> Link:
    pos, seq, v, at, session, kind, data, prev_hash, digest = row
    if not (
        type(seq) is int and type(v) is int and type(at) is str and type(session) is str
        and type(kind) is str and type(data) is str and type(prev_hash) is str
        and type(digest) is str
    ):
        return Link(pos, None, _text(prev_hash), _text(digest), _text(kind),
                    "a field has the wrong type.")
    if v != RECORD_VERSION:
        return Link(pos, seq, prev_hash, digest, kind,
                    f"record format version {v} is unknown to this Moat.",
                    error_kind="unsupported")
    body = body_text(v=v, seq=seq, at=at, session=session, kind=kind, data_json=data,
                     prev_hash=prev_hash)
    if hash_body(prev_hash, body) != digest:
        return Link(pos, seq, prev_hash, digest, kind, "its hash does not match its content.")
    checkpoint = _checkpoint_data(data) if kind == CHECKPOINT_KIND else None
    return Link(pos, seq, prev_hash, digest, kind, checkpoint=checkpoint)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _checkpoint_data(data_json: str) -> dict[str, Any]:
    try:
        value = json.loads(data_json)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _not_moat(path: Path) -> AuditUnavailable:
    return AuditUnavailable(
        f"{path} is not a Moat audit store or an export of one; check the path."
    )
