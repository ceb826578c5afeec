"""The database thread: audit records written in batches, shared state read back.

The request path never waits for the database. A finished request hands its
audit record to ``submit`` (an append to a deque) and moves on. This thread
wakes every ``flush_interval_s`` (or sooner, when a batch is full), and in
one transaction appends the waiting records to the ``gateway`` chain, adds
their tokens to the usage counters, and signs a checkpoint when one is due.

No record is dropped:

- a batch that fails to commit stays at the front and is tried again; the
  request ids make a retry after an unclear failure idempotent;
- while the database is unreachable, or too many records are waiting, the
  gateway stops admitting requests (``available`` is false: the proxy answers
  503) rather than serve what it cannot record, unless ``fail_open`` is set;
- on shutdown, ``stop`` writes everything still waiting, after the server
  has let running streams finish.

Between batches the thread also refreshes this replica's copies of what all
replicas share: the usage counters (for quotas) and the identity tables (for
token checks), and probes the database when idle so an outage is noticed
before the next request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from moatcode.audit.canonical import canonical_text
from moatcode.audit.checkpoint import CheckpointSigner
from moatcode.gateway import chains, quotas
from moatcode.gateway.db import DatabaseUnavailable, records
from moatcode.gateway.identity import IdentitySnapshot, IdentityStore, now_text
from moatcode.gateway.quotas import Key, QuotaBook

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class PendingRecord:
    """A gateway record waiting to be written, with the usage it accounts for."""

    rid: str
    at: str
    session: str
    kind: str
    data: dict[str, Any]
    usage: Mapping[Key, int] = field(default_factory=dict)


@dataclass
class WorkerStats:
    written: int = 0
    batches: int = 0
    failures: int = 0
    dropped: int = 0  # only with fail_open, when the queue was full
    last_batch_s: float = 0.0


class DbWorker:
    """Owns every database write of the request path, in one thread."""

    def __init__(
        self,
        engine: Engine,
        *,
        quotas: QuotaBook,
        identity: IdentityStore | None = None,
        signer: CheckpointSigner | None = None,
        flush_interval_s: float = 0.05,
        max_pending: int = 10_000,
        max_batch: int = 1000,
        checkpoint_every: int = 1000,
        identity_refresh_s: float = 5.0,
        usage_refresh_s: float = 1.0,
        on_snapshot: Callable[[IdentitySnapshot], None] | None = None,
        on_availability: Callable[[bool], None] | None = None,
        fail_open: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.quotas = quotas
        self.identity = identity
        self.signer = signer
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.checkpoint_every = checkpoint_every
        self.identity_refresh_s = identity_refresh_s
        self.usage_refresh_s = usage_refresh_s
        self.on_snapshot = on_snapshot
        self.on_availability = on_availability
        self.fail_open = fail_open
        self.clock = clock
        self.stats = WorkerStats()
        self._pending: deque[PendingRecord] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._db_ok = True
        self._last_usage = 0.0
        self._last_identity = 0.0
        self._last_prune = 0.0
        self._last_ok = clock()
        self._submitted = 0

    # -- the request path's side (event loop thread) --------------------------

    @property
    def available(self) -> bool:
        """True while records can be written: the database answers and the queue has room."""
        return self._db_ok and len(self._pending) < self.max_pending

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, record: PendingRecord) -> None:
        if self.fail_open and len(self._pending) >= self.max_pending:
            # Serving unaudited was chosen over refusing; memory must still stay bounded.
            self.stats.dropped += 1
            if self.stats.dropped % 1000 == 1:
                log.error("the audit queue is full: %d records dropped so far",
                          self.stats.dropped)
            return
        self._submitted += 1
        self._pending.append(record)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    def drained(self) -> bool:
        """True once every record submitted so far is in the database."""
        return self.stats.written >= self._submitted

    # -- life cycle ------------------------------------------------------------

    def start(self) -> None:
        """Read the shared state once, then start the thread."""
        self._refresh(force=True)
        self._thread = threading.Thread(target=self._run, name="moat-gateway-db", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Write everything waiting (retrying up to ``timeout_s``), sign the head, stop."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        deadline = time.monotonic() + timeout_s
        while self._pending and time.monotonic() < deadline:
            if not self._flush():
                time.sleep(0.2)
        if self._pending:
            log.error("%d audit records could not be written before shutdown",
                      len(self._pending))
        self.checkpoint_now()

    def checkpoint_now(self) -> None:
        """Sign the gateway chain's head if records came after the last checkpoint."""
        if self.signer is None:
            return
        try:
            with self.engine.begin() as conn:
                head = chains.lock_head(conn, chains.GATEWAY_CHAIN)
                if head.unsigned:
                    chains.append_checkpoint(conn, chains.GATEWAY_CHAIN, head, self.signer,
                                             now_text())
        except SQLAlchemyError as exc:
            log.error("could not sign the gateway chain: %s", _reason(exc))

    # -- the thread --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                break
            while self._pending and self._flush():
                pass
            self._refresh()

    def _flush(self) -> bool:
        """Write one batch; False if the database refused it (the batch stays queued)."""
        batch: list[PendingRecord] = []
        pending = self._pending
        while pending and len(batch) < self.max_batch:
            batch.append(pending.popleft())
        if not batch:
            return True
        started = time.perf_counter()
        items = []
        for r in batch:
            items.append(chains.NewRecord(r.at, r.session, r.kind, canonical_text(r.data), r.rid))
            # Hand the GIL back between records: the event loop should not wait for a batch.
            time.sleep(0)
        increments: dict[Key, int] = {}
        for record in batch:
            for key, amount in record.usage.items():
                increments[key] = increments.get(key, 0) + amount
        try:
            self._write(items, increments)
        except IntegrityError:
            # An earlier attempt may have committed without our hearing of it.
            try:
                items = self._drop_written(items)
                self._write(items, increments if items else {})
            except SQLAlchemyError as exc:
                return self._requeue(batch, exc)
        except SQLAlchemyError as exc:
            return self._requeue(batch, exc)
        self.quotas.written([r.usage for r in batch])
        self.stats.written += len(batch)
        self.stats.batches += 1
        self.stats.last_batch_s = time.perf_counter() - started
        self._set_ok(True)
        return True

    def _write(self, items: list[chains.NewRecord], increments: dict[Key, int]) -> None:
        with self.engine.begin() as conn:
            head = chains.lock_head(conn, chains.GATEWAY_CHAIN)
            head = chains.append(conn, chains.GATEWAY_CHAIN, items, head)
            quotas.add_usage(conn, increments)
            if self.signer is not None and head.unsigned >= self.checkpoint_every:
                chains.append_checkpoint(conn, chains.GATEWAY_CHAIN, head, self.signer,
                                         now_text())

    def _drop_written(self, items: list[chains.NewRecord]) -> list[chains.NewRecord]:
        rids = [i.rid for i in items if i.rid is not None]
        with self.engine.connect() as conn:
            done = {r[0] for r in conn.execute(select(records.c.rid).where(
                records.c.rid.in_(rids)))}
        return [i for i in items if i.rid not in done]

    def _requeue(self, batch: list[PendingRecord], exc: SQLAlchemyError) -> bool:
        self._pending.extendleft(reversed(batch))
        self.stats.failures += 1
        self._set_ok(False, exc)
        return False

    def _refresh(self, force: bool = False) -> None:
        now = self.clock()
        try:
            if force or now - self._last_usage >= self.usage_refresh_s:
                with self.engine.connect() as conn:
                    totals = quotas.read_current(conn, now)
                self.quotas.replace_stored(totals)
                self._last_usage = now
            if self.identity is not None and self.identity_refresh_s > 0 and (
                force or now - self._last_identity >= self.identity_refresh_s
            ):
                snapshot = self.identity.snapshot()
                if self.on_snapshot is not None:
                    self.on_snapshot(snapshot)
                self._last_identity = now
            if now - self._last_prune >= _PRUNE_EVERY_S:
                with self.engine.begin() as conn:
                    quotas.prune(conn, now)
                self._last_prune = now
            if not self._db_ok:
                with self.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            self._set_ok(True)
        except (SQLAlchemyError, DatabaseUnavailable) as exc:
            self._set_ok(False, exc)

    def _set_ok(self, ok: bool, exc: BaseException | None = None) -> None:
        if ok:
            self._last_ok = self.clock()
        if ok == self._db_ok:
            return
        self._db_ok = ok
        if ok:
            log.info("the gateway database is reachable again")
        else:
            log.error("the gateway database is unreachable: %s", _reason(exc))
        if self.on_availability is not None:
            self.on_availability(ok)


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text_ = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text_[:300]
