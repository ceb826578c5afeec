"""Request bodies in the audit log, stored once: each body as what it adds to the one before.

A session's prompts are append-only (the agent core's contract), so each model
request repeats the previous one and adds a few messages. Kept whole, a
session's bodies grow with the square of its length; kept as the part that is
new, they grow with the conversation itself. A ``model_request`` record whose
body extends an earlier one of its session stores, instead of ``body``:

- ``body_base``: the ``seq`` of that earlier ``model_request`` record;
- ``body_shared``: how many characters (code points) of that record's body
  come first;
- ``body_rest``: the characters that follow.

The body is ``body(body_base)[:body_shared] + body_rest``, where the base may
itself be stored this way. ``body_sha256`` (of the body's UTF-8 bytes) is in
every record, so a rebuilt body is checked, never trusted: ``rebuild`` raises
when the records do not give back the bytes that were hashed. The first
request of a session is stored whole; the one after a compaction usually
still shares the system prompt and tools with the one before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from moatcode.audit.store import AuditStore
from moatcode.errors import MoatError

# Below this many shared characters a request is stored whole: not worth a reference.
MIN_SHARED = 256


class BodyUnavailable(MoatError):
    """A request body cannot be given back exactly from the records."""


def shared_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b``."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:  # the answer lies in [lo, hi]
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def as_delta(data: dict[str, Any], base_seq: int, base_body: str) -> None:
    """Store ``data["body"]`` as what it adds to ``base_body``, when that saves space."""
    body = data["body"]
    shared = shared_prefix(base_body, body)
    if shared < MIN_SHARED:
        return
    del data["body"]
    data["body_base"] = base_seq
    data["body_shared"] = shared
    data["body_rest"] = body[shared:]


def has_body(data: Mapping[str, Any]) -> bool:
    """Whether a ``model_request`` record keeps its body (whole or as a delta)."""
    return "body" in data or "body_rest" in data


def rebuild(data: Mapping[str, Any], record_data: Callable[[int], Mapping[str, Any] | None],
            seq: int) -> str:
    """The exact body of a ``model_request`` record, checked against its ``body_sha256``.

    ``record_data`` gives the data of the record with a given ``seq`` (None if
    there is none); ``seq`` names this record in errors.
    """
    expected = data.get("body_sha256")
    if not isinstance(expected, str):
        raise BodyUnavailable(f"Record {seq} has no body_sha256 to check a body against.")
    steps: list[tuple[int, str]] = []  # (characters kept from the base, what follows)
    current, at, seen = data, seq, set()
    while "body" not in current:
        if "body_rest" not in current:
            raise BodyUnavailable(f"The request in record {at} was stored as a hash only "
                                  "(audit.store_requests = \"hash\").")
        base, shared, rest = (current.get("body_base"), current.get("body_shared"),
                              current.get("body_rest"))
        if not (isinstance(base, int) and isinstance(shared, int) and _whole(base)
                and _whole(shared) and isinstance(rest, str)):
            raise BodyUnavailable(f"Record {at} does not say where its body comes from in a "
                                  "form Moat reads; the store is damaged.")
        if base in seen or base >= at:
            raise BodyUnavailable(f"Record {at} points at record {base} for its body, which "
                                  "cannot come before it; the store is damaged.")
        seen.add(base)
        steps.append((shared, rest))
        found = record_data(base)
        if found is None:
            raise BodyUnavailable(f"Record {at} builds its body on record {base}, which is not "
                                  "in the store.")
        current, at = found, base
    if not isinstance(current["body"], str):
        raise BodyUnavailable(f"Record {at} holds a body that is not text; the store is damaged.")
    # Pieces, cut back and extended step by step: each character is copied once.
    pieces, size = [current["body"]], len(current["body"])
    for shared, rest in reversed(steps):
        while size > shared:
            last = pieces.pop()
            size -= len(last)
            if size < shared:
                pieces.append(last[:shared - size])
                size = shared
        pieces.append(rest)
        size += len(rest)
    body = "".join(pieces)
    if hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest() != expected:
        raise BodyUnavailable(f"The body rebuilt for record {seq} does not match its "
                              "body_sha256; run `moat audit verify`.")
    return body


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def request_body(path: Path, seq: int) -> str:
    """The exact body of the model request in record ``seq`` of the store at ``path``."""
    with AuditStore.open_readonly(path) as store:
        record = store.record(seq)
        if record is None or record.kind != "model_request":
            what = "no record" if record is None else f"a {record.kind} record"
            raise BodyUnavailable(f"Record {seq} of {path} is {what}, not a model request; "
                                  "list them with moat audit log --kind model_request.")

        def data_of(base: int) -> Mapping[str, Any] | None:
            found = store.record(base)
            return found.data if found is not None and found.kind == "model_request" else None

        return rebuild(record.data, data_of, seq)
