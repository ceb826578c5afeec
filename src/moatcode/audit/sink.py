"""The audit sink: an ``Emit`` callable that turns each event into a record.

It is one more consumer of the event stream, beside the renderers. Streaming
deltas (``text_delta``, ``reasoning_delta``) are not recorded: the complete
text is in ``model_response``. A ``model_request`` keeps its ``body`` unless
the policy says ``audit.store_requests = "hash"``; then only ``body_sha256``
remains. A body that extends the session's previous one is kept as what it
adds (``audit.bodies``), so a session's bodies grow linearly, not with the
square of its length.

With a signer, the sink appends a signed checkpoint after ``session_ended``,
every ``checkpoint_every`` records, and on ``close``, so a store that Moat
closed always ends with one.

A failure to record raises ``AuditUnavailable`` out of the emit call: Moat
stops rather than act without a record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from moatcode.audit.bodies import as_delta
from moatcode.audit.checkpoint import CheckpointSigner
from moatcode.audit.record import Record
from moatcode.audit.store import AuditStore
from moatcode.events import (
    Event,
    ModelRequestSent,
    ReasoningDelta,
    SessionEnded,
    SessionStarted,
    TextDelta,
    event_to_dict,
)

StoreRequests = Literal["full", "hash"]

NOT_RECORDED = frozenset({TextDelta.kind, ReasoningDelta.kind})


def _system_clock() -> datetime:
    return datetime.now(UTC)


def event_data(event: Event, store_requests: StoreRequests = "full") -> dict[str, Any] | None:
    """The ``data`` of the record for ``event``, or None when it is not recorded."""
    if event.kind in NOT_RECORDED:
        return None
    data = event_to_dict(event)
    del data["kind"]
    if store_requests == "hash" and isinstance(event, ModelRequestSent):
        del data["body"]
    return data


class AuditSink:
    """Appends every event of a session to the audit store."""

    def __init__(
        self,
        store: AuditStore,
        *,
        session_id: str = "",
        clock: Callable[[], datetime] = _system_clock,
        store_requests: StoreRequests = "full",
        signer: CheckpointSigner | None = None,
        checkpoint_every: int = 1000,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self._clock = clock
        self._store_requests = store_requests
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self._unsigned = 0  # records this sink wrote since its last checkpoint
        self._last_body: tuple[int, str] | None = None  # the session's last request: seq, body

    def __call__(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.session_id = event.session_id
            self._last_body = None
        data = event_data(event, self._store_requests)
        if data is None:
            return
        stored_whole = isinstance(event, ModelRequestSent) and "body" in data
        if stored_whole and self._last_body is not None:
            as_delta(data, *self._last_body)
        record = self.record(event.kind, data)
        if stored_whole and isinstance(event, ModelRequestSent):
            self._last_body = (record.seq, event.body)
        if isinstance(event, SessionEnded) or (
            self._checkpoint_every > 0 and self._unsigned >= self._checkpoint_every
        ):
            self.checkpoint()

    def record(self, kind: str, data: dict[str, Any]) -> Record:
        """Append one record of ``kind`` for the current session."""
        try:
            record = self.store.append(
                session=self.session_id, kind=kind, data=data, at=self._clock()
            )
        except ValueError:
            # Text with lone surrogates or a NaN cannot be canonical JSON; the
            # record keeps everything else rather than fail the session.
            record = self.store.append(
                session=self.session_id, kind=kind, data=_scrub(data), at=self._clock()
            )
        self._unsigned += 1
        return record

    def checkpoint(self) -> Record | None:
        """Sign the current head now; None without a signer."""
        if self._signer is None:
            return None
        record = self.store.append_checkpoint(
            session=self.session_id, at=self._clock(), sign=self._signer.sign
        )
        self._unsigned = 0
        return record

    def close(self) -> None:
        """Sign the head if this sink wrote anything since its last checkpoint."""
        if self._unsigned:
            self.checkpoint()


def _scrub(value: Any) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD and non-finite numbers by null."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value
