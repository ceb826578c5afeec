"""The audit record and its hash: the one formula every verifier must reproduce.

A record is ``{v, seq, at, session, kind, data, prev_hash, hash}``:

- ``v`` is the record format version. Version 1 means canonical JSON version 1
  (``canonical.py``) and the hash rule below; a later version can join the
  same chain because each record names its own.
- ``seq`` counts from 1 across the whole store (one chain per store, across
  sessions); ``at`` is an RFC 3339 UTC time with microseconds,
  ``2025-01-31T09:15:02.123456Z``; ``kind`` is the event kind and ``data`` the
  event's fields without ``kind``.
- ``prev_hash`` is the previous record's ``hash``; the first record's is
  ``GENESIS_HASH`` (64 zeros).
- ``hash = sha256(prev_hash || canonical_json(record without "hash"))``, as
  lowercase hex, where ``prev_hash`` enters as its 64 ASCII hex characters.
  ``prev_hash`` is also inside the JSON; naming it first is the design's
  contract and costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moatcode.audit.canonical import canonical_text

RECORD_VERSION = 1
GENESIS_HASH = "0" * 64
CHECKPOINT_KIND = "checkpoint"

_encode_string = json.encoder.encode_basestring  # C, escapes only what JSON requires


@dataclass(frozen=True)
class Record:
    """One link of the chain, as read back from a store or an export."""

    seq: int
    at: str
    session: str
    kind: str
    data: dict[str, Any]
    prev_hash: str
    hash: str
    v: int = RECORD_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object an export line holds."""
        return {
            "at": self.at,
            "data": self.data,
            "hash": self.hash,
            "kind": self.kind,
            "prev_hash": self.prev_hash,
            "seq": self.seq,
            "session": self.session,
            "v": self.v,
        }


def format_at(moment: datetime) -> str:
    """``moment`` as the record's RFC 3339 UTC timestamp; naive times are a bug."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("audit timestamps need a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def body_text(
    *, v: int, seq: int, at: str, session: str, kind: str, data_json: str, prev_hash: str
) -> str:
    """Canonical JSON of the record without ``hash``, given ``data`` already canonical.

    Spelled out rather than built with ``canonical_json`` because appending,
    verifying a store and exporting all hold ``data`` as canonical text
    already; the keys are written in their canonical (sorted) order.
    """
    return (
        f'{{"at":{_encode_string(at)},"data":{data_json},"kind":{_encode_string(kind)}'
        f',"prev_hash":{_encode_string(prev_hash)},"seq":{seq}'
        f',"session":{_encode_string(session)},"v":{v}}}'
    )


def hash_body(prev_hash: str, body: str) -> str:
    """The record hash over ``prev_hash`` and the canonical body."""
    # surrogatepass: a hand-edited store may hold anything; it must hash, not crash.
    return hashlib.sha256((prev_hash + body).encode("utf-8", "surrogatepass")).hexdigest()


def hash_record_dict(record: dict[str, Any]) -> str:
    """The hash a record (as parsed from JSON, ``hash`` ignored) should carry."""
    body = {k: v for k, v in record.items() if k != "hash"}
    prev = record.get("prev_hash")
    return hash_body(prev if isinstance(prev, str) else "", canonical_text(body))
