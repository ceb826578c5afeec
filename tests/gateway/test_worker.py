"""The database thread's queue: bounded, never silently losing a record unless told to."""

from __future__ import annotations

from pathlib import Path

from moatcode.gateway import db
from moatcode.gateway.chains import iter_rows
from moatcode.gateway.quotas import QuotaBook
from moatcode.gateway.worker import DbWorker, PendingRecord


def record(n: int) -> PendingRecord:
    return PendingRecord(f"rid{n}", "2025-01-01T00:00:00.000000Z", "", "gateway_request",
                         {"n": n})


def test_a_full_queue_refuses_requests_unless_fail_open(tmp_path: Path) -> None:
    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.ensure_schema(engine)
    closed = DbWorker(engine, quotas=QuotaBook(), max_pending=2)
    for n in range(3):
        closed.submit(record(n))
    assert (closed.pending, closed.available, closed.stats.dropped) == (3, False, 0)
    open_ = DbWorker(engine, quotas=QuotaBook(), max_pending=2, fail_open=True)
    for n in range(3):
        open_.submit(record(n))
    assert (open_.pending, open_.stats.dropped) == (2, 1)
    closed.stop()  # writes everything waiting, even when never started
    assert [r.seq for r in iter_rows(engine, "gateway")] == [1, 2, 3]
    engine.dispose()


def test_a_batch_written_twice_is_written_once(tmp_path: Path) -> None:
    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.ensure_schema(engine)
    worker = DbWorker(engine, quotas=QuotaBook())
    worker.submit(record(1))
    worker.stop()
    again = DbWorker(engine, quotas=QuotaBook())
    again.submit(record(1))  # as after a commit whose acknowledgement was lost
    again.submit(record(2))
    again.stop()
    assert [(r.seq, r.kind) for r in iter_rows(engine, "gateway")] == [
        (1, "gateway_request"), (2, "gateway_request")]
    engine.dispose()
