from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from moatcode.audit.migrations import APPLICATION_ID, LATEST_VERSION
from moatcode.audit.record import GENESIS_HASH, Record, body_text, hash_body
from moatcode.audit.store import AuditStore
from moatcode.audit.verify import verify_store
from moatcode.errors import AuditUnavailable
from tests.audit.conftest import START, SteppingClock


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "audit.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[AuditStore]:
    with AuditStore.open(store_path) as opened:
        yield opened


def test_open_creates_a_marked_wal_store(store: AuditStore, store_path: Path) -> None:
    db = sqlite3.connect(store_path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("SELECT version FROM migrations").fetchall() == [(LATEST_VERSION,)]
    finally:
        db.close()


def test_reopening_keeps_records_and_runs_no_migration_twice(
    store_path: Path, clock: SteppingClock
) -> None:
    with AuditStore.open(store_path) as store:
        store.append(session="s1", kind="notice", data={"message": "a"}, at=clock())
    with AuditStore.open(store_path) as store:
        second = store.append(session="s1", kind="notice", data={"message": "b"}, at=clock())
    assert second.seq == 2
    db = sqlite3.connect(store_path)
    try:
        assert db.execute("SELECT count(*) FROM migrations").fetchone() == (1,)
    finally:
        db.close()


def test_append_builds_the_chain(store: AuditStore, clock: SteppingClock) -> None:
    first = store.append(session="s1", kind="notice", data={"message": "hi", "ms": 1.5},
                         at=clock())
    second = store.append(session="s2", kind="user_prompt", data={"text": "go"}, at=clock())
    at1 = (START + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = body_text(v=1, seq=1, at=at1, session="s1", kind="notice",
                     data_json='{"message":"hi","ms":1.5}', prev_hash=GENESIS_HASH)
    assert first == Record(1, at1, "s1", "notice", {"message": "hi", "ms": 1.5},
                           GENESIS_HASH, hash_body(GENESIS_HASH, body))
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert store.head() == (2, second.hash)


def test_append_needs_an_aware_time(store: AuditStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append(session="s", kind="notice", data={}, at=START.replace(tzinfo=None))


def test_store_is_append_only(store: AuditStore, store_path: Path, clock: SteppingClock) -> None:
    store.append(session="s1", kind="notice", data={"message": "a"}, at=clock())
    db = sqlite3.connect(store_path)
    try:
        for statement in ("UPDATE records SET kind = 'x'", "DELETE FROM records"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
    finally:
        db.close()


def test_filters_and_last_session(store: AuditStore, clock: SteppingClock) -> None:
    for session, kind in [("s1", "session_started"), ("s1", "notice"), ("s2", "session_started"),
                          ("s2", "notice"), ("s1", "notice")]:
        store.append(session=session, kind=kind, data={}, at=clock())
    assert [r.seq for r in store.records(session="s1")] == [1, 2, 5]
    assert [r.seq for r in store.records(kind="notice")] == [2, 4, 5]
    assert [r.seq for r in store.records(session="s1", kind="notice")] == [2, 5]
    assert [r.seq for r in store.records(since=START + timedelta(seconds=3))] == [3, 4, 5]
    assert list(store.records(since=START + timedelta(days=1))) == []
    assert store.last_session() == "s2"


def test_since_keeps_an_unbroken_stretch(store: AuditStore) -> None:
    # A second process's clock runs behind: seq 3 is stamped earlier than seq 2.
    for seconds in (10, 20, 15, 30):
        store.append(session="s", kind="notice", data={}, at=START + timedelta(seconds=seconds))
    assert [r.seq for r in store.records(since=START + timedelta(seconds=20))] == [2, 3, 4]


def test_threads_share_one_store(store: AuditStore, clock: SteppingClock) -> None:
    def append_many() -> None:
        for _ in range(50):
            store.append(session="t", kind="notice", data={}, at=START)

    threads = [threading.Thread(target=append_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.seq for r in store.records()] == list(range(1, 201))
    assert verify_store(store.path).ok


# -- files that are not stores --------------------------------------------------


def test_a_text_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database\n" * 100)
    message = (
        f"The audit store {path} is corrupt or not a Moat audit store (file is not a "
        "database); move it aside so Moat starts a new one, or set audit.path."
    )
    with pytest.raises(AuditUnavailable) as opened:
        AuditStore.open(path)
    assert str(opened.value) == message
    with pytest.raises(AuditUnavailable) as read:
        AuditStore.open_readonly(path)
    assert str(read.value) == message


def test_an_sqlite_file_without_our_tables_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE things (x)")
    db.commit()
    db.close()
    message = (
        f"{path} is not a Moat audit store (it is an SQLite file without Moat's tables); "
        "check the path, or set audit.path."
    )
    for opener in (AuditStore.open, AuditStore.open_readonly):
        with pytest.raises(AuditUnavailable) as error:
            opener(path)
        assert str(error.value) == message


def test_missing_store_for_reading(tmp_path: Path) -> None:
    with pytest.raises(AuditUnavailable, match="There is no audit store at"):
        AuditStore.open_readonly(tmp_path / "nothing.db")


def test_a_newer_schema_is_refused(store_path: Path) -> None:
    AuditStore.open(store_path).close()
    db = sqlite3.connect(store_path)
    db.execute("INSERT INTO migrations VALUES (?, 'from the future')", (LATEST_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(AuditUnavailable, match="has schema version 2, newer than this Moat"):
        AuditStore.open(store_path)


def test_corrupt_store(store_path: Path, clock: SteppingClock) -> None:
    with AuditStore.open(store_path) as store:
        for _ in range(50):
            store.append(session="s", kind="notice", data={"x": "y" * 500}, at=clock())
    with store_path.open("r+b") as handle:  # scribble over the pages after the header
        handle.seek(100)
        handle.write(b"\xff" * 8000)
    with (
        pytest.raises(AuditUnavailable, match="is corrupt or not a Moat audit store"),
        AuditStore.open(store_path) as store,
    ):
        store.append(session="s", kind="notice", data={}, at=clock())


# -- failures while writing -----------------------------------------------------


def test_locked_past_the_busy_timeout(store_path: Path, clock: SteppingClock) -> None:
    with AuditStore.open(store_path, busy_timeout_s=0.1) as store:
        other = sqlite3.connect(store_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(AuditUnavailable) as error:
                store.append(session="s", kind="notice", data={}, at=clock())
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.append(session="s", kind="notice", data={}, at=clock())  # free again
    assert str(error.value) == (
        f"The audit store {store_path} stayed locked by another process for more than 0.1 s; "
        "wait for the other Moat process, or set audit.path."
    )


def test_parent_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditUnavailable) as error:
        AuditStore.open(blocker / "audit.db")
    assert str(error.value) == (
        f"The audit store {blocker / 'audit.db'} is not writable ({blocker} is not a "
        "directory); "
        "fix its permissions, or set audit.path."
    )


_CHILD_APPEND = textwrap.dedent(
    """
    import sys
    from datetime import datetime, UTC
    from pathlib import Path
    from moatcode.audit.store import AuditStore
    from moatcode.errors import AuditUnavailable
    try:
        with AuditStore.open(Path(sys.argv[1])) as store:
            for i in range(int(sys.argv[2])):
                store.append(session="s", kind="notice", data={"pad": "x" * 2000},
                             at=datetime.now(UTC))
    except AuditUnavailable as exc:
        print(exc)
        sys.exit(5)
    """
)


def test_not_writable(tmp_path: Path) -> None:
    directory = Path(tempfile.mkdtemp(prefix="moat-audit-"))  # reachable by another user
    try:
        directory.chmod(0o755)
        path = directory / "audit.db"
        AuditStore.open(path).close()
        path.chmod(0o444)
        directory.chmod(0o555)
        command = [sys.executable, "-c", _CHILD_APPEND, str(path), "1"]
        if os.geteuid() == 0:
            # Root ignores file modes; without these capabilities it does not.
            if shutil.which("setpriv") is None:
                pytest.skip("running as root, and setpriv(1) is missing to drop privileges")
            command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (
        5,
        f"The audit store {path} is not writable (Permission denied); "
        "fix its permissions, or set audit.path.",
        "",
    )


def test_disk_full(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    inner = f'mount -t tmpfs -o size=256k tmpfs {mount} && exec {sys.executable} -c "$0" "$@"'
    argv = ["sh", "-c", inner, _CHILD_APPEND, str(mount / "audit.db"), "1000"]
    # Root may mount in a new mount namespace; others need a user namespace too.
    namespace = "-m" if os.geteuid() == 0 else "-Urm"
    probe = subprocess.run(["unshare", namespace, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    done = subprocess.run(
        ["unshare", namespace, *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (
        5,
        f"The audit store {mount / 'audit.db'} cannot grow (the disk is full); "
        "free some space, or set audit.path.",
        "",
    )


# -- several processes ----------------------------------------------------------

_CHILD_LOOP = textwrap.dedent(
    """
    import sys
    from datetime import datetime, UTC
    from pathlib import Path
    from moatcode.audit.store import AuditStore
    store = AuditStore.open(Path(sys.argv[1]), synchronous=sys.argv[4])
    for i in range(int(sys.argv[3])):
        record = store.append(session=sys.argv[2], kind="notice",
                              data={"i": i, "pad": "x" * 300}, at=datetime.now(UTC))
        print(record.seq, flush=True)
    """
)


def test_two_processes_append_one_chain(store_path: Path) -> None:
    AuditStore.open(store_path).close()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD_LOOP, str(store_path), name, "150", "normal"],
            stdout=subprocess.PIPE, text=True,
        )
        for name in ("alpha", "beta")
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    result = verify_store(store_path)
    assert (result.ok, result.records, result.last_seq) == (True, 300, 300)
    seqs = sorted(int(line) for out in outputs for line in out.split())
    assert seqs == list(range(1, 301))
    with AuditStore.open_readonly(store_path) as store:
        assert len(list(store.records(session="alpha"))) == 150


@pytest.mark.parametrize("synchronous", ["normal", "full"])
def test_sigkill_loses_at_most_the_record_being_written(
    store_path: Path, synchronous: str
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_LOOP, str(store_path), "s", "100000", synchronous],
        stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    acknowledged = 0
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= 200:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    result = verify_store(store_path)
    assert result.ok
    assert result.problem is None
    # Every record the child saw committed is there (it may have committed a few
    # more before the signal landed), and nothing half-written breaks the chain.
    assert result.records >= acknowledged
    with AuditStore.open(store_path) as store:  # and the store takes records again
        assert store.append(session="s", kind="notice", data={}, at=START).seq == (
            result.records + 1
        )
