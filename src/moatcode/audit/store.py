"""The audit store: one append-only SQLite file per user, holding one hash chain.

SQLite in WAL mode, so readers (``moat audit log``) never block a writer.
Appending reads the head and inserts the next record in one ``BEGIN
IMMEDIATE`` transaction, so two Moat processes writing the same store (two
sessions at once) still build one chain; a writer waits for the other up to
the busy timeout.

Durability is a setting (``synchronous``). Every commit survives a killed
process either way. With ``"normal"``, the default, an ordinary record is not
fsynced (SQLite in WAL mode), but a checkpoint is, and that makes every record
before it durable too: a power cut loses at most the records since the last
checkpoint. ``"full"`` fsyncs every record, which costs from twice to twenty
times as much depending on the disk and what else is writing to it;
docs/audit.md has the measurements.

Every failure to open or write is an ``AuditUnavailable`` naming the file and
why, since Moat must not act without its record.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple

from moatcode.audit import migrations
from moatcode.audit.canonical import canonical_text
from moatcode.audit.record import (
    CHECKPOINT_KIND,
    GENESIS_HASH,
    RECORD_VERSION,
    Record,
    body_text,
    format_at,
    hash_body,
)
from moatcode.errors import AuditUnavailable

Synchronous = Literal["normal", "full"]

DEFAULT_BUSY_TIMEOUT_S = 10.0

_HEAD = "SELECT seq, hash FROM records ORDER BY pos DESC LIMIT 1"
_INSERT = (
    "INSERT INTO records (seq, v, at, session, kind, data, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = "pos, seq, v, at, session, kind, data, prev_hash, hash"


class StoredRow(NamedTuple):
    """A row exactly as stored; a hand-edited file can hold any types here.

    A named tuple, as it is built once per row read.
    """

    pos: Any
    seq: Any
    v: Any
    at: Any
    session: Any
    kind: Any
    data: Any
    prev_hash: Any
    hash: Any


class AuditStore:
    """An open audit store. Use ``open`` to write and ``open_readonly`` to read."""

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        busy_timeout_s: float,
        synchronous: Synchronous = "normal",
    ) -> None:
        self.path = path
        self._db = connection
        self._busy_timeout_s = busy_timeout_s
        self._synchronous = synchronous
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous = "normal",
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> AuditStore:
        """Open the store at ``path`` for appending, creating it and its directory if needed."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise _not_writable(path, f"{path.parent} is not a directory") from exc
        except OSError as exc:
            raise _not_writable(path, exc.strerror or str(exc)) from exc
        try:
            db = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise unavailable(path, exc, busy_timeout_s) from exc
        store = cls(path, db, busy_timeout_s, synchronous)
        try:
            db.execute("PRAGMA journal_mode=WAL").fetchone()
            db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            store._migrate()
        except sqlite3.Error as exc:
            db.close()
            raise unavailable(path, exc, busy_timeout_s) from exc
        except AuditUnavailable:
            db.close()
            raise
        return store

    @classmethod
    def open_readonly(
        cls, path: Path, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> AuditStore:
        """Open an existing store to read; says plainly when ``path`` is not one."""
        if not path.is_file():
            raise AuditUnavailable(
                f"There is no audit store at {path}; check the path, or set audit.path."
            )
        uri = path.resolve().as_uri() + "?mode=ro"
        try:
            db = sqlite3.connect(
                uri, uri=True, timeout=busy_timeout_s, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise unavailable(path, exc, busy_timeout_s) from exc
        store = cls(path, db, busy_timeout_s)
        try:
            version = store._schema_version()
        except sqlite3.Error as exc:
            db.close()
            raise unavailable(path, exc, busy_timeout_s) from exc
        if not version:
            db.close()
            raise not_a_store(path)
        if version > migrations.LATEST_VERSION:
            db.close()
            raise _too_new(path, version)
        return store

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def append(self, *, session: str, kind: str, data: dict[str, Any], at: datetime) -> Record:
        """Append one record after the current head and return it."""
        data_json = canonical_text(data)
        return self._append(session, kind, at, lambda _seq, _hash: data_json)

    def append_checkpoint(
        self,
        *,
        session: str,
        at: datetime,
        sign: Callable[[int, str], dict[str, Any]],
    ) -> Record:
        """Append a checkpoint whose data ``sign(seq, hash)`` makes for the head it follows.

        The head is read and signed inside the appending transaction, so the
        checkpoint always signs the record right before it. Its commit is
        fsynced whatever the setting, which makes every record before it durable.
        """
        return self._append(
            session, CHECKPOINT_KIND, at, lambda seq, head: canonical_text(sign(seq, head)),
            durable=True,
        )

    def _append(
        self,
        session: str,
        kind: str,
        at: datetime,
        data_for: Callable[[int, str], str],
        durable: bool = False,
    ) -> Record:
        at_text = format_at(at)
        # In WAL mode an fsync of the log at one commit covers every commit before it.
        upgrade = durable and self._synchronous != "full"
        with self._lock:
            db = self._db
            try:
                if upgrade:
                    db.execute("PRAGMA synchronous=FULL")
                db.execute("BEGIN IMMEDIATE")
                try:
                    row = db.execute(_HEAD).fetchone()
                    prev_seq, prev_hash = (row[0], row[1]) if row else (0, GENESIS_HASH)
                    seq = prev_seq + 1
                    data_json = data_for(prev_seq, prev_hash)
                    body = body_text(
                        v=RECORD_VERSION, seq=seq, at=at_text, session=session, kind=kind,
                        data_json=data_json, prev_hash=prev_hash,
                    )
                    digest = hash_body(prev_hash, body)
                    db.execute(
                        _INSERT,
                        (seq, RECORD_VERSION, at_text, session, kind, data_json, prev_hash, digest),
                    )
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise unavailable(self.path, exc, self._busy_timeout_s) from exc
            finally:
                if upgrade:
                    db.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
        return Record(seq, at_text, session, kind, _load_data(data_json), prev_hash, digest)

    # -- reading -------------------------------------------------------------

    def head(self) -> tuple[int, str] | None:
        """The last record's ``(seq, hash)``, or None for an empty store."""
        row = self._query(_HEAD, ()).fetchone()
        return (row[0], row[1]) if row else None

    def rows(
        self,
        *,
        session: str | None = None,
        since: datetime | None = None,
        kind: str | None = None,
    ) -> Iterator[StoredRow]:
        """Stored rows in storage order, filtered.

        ``since`` starts at the first record at or after that time and keeps
        every record after it, so an export is one unbroken stretch of the
        chain even if two processes' clocks disagree.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("pos >= (SELECT min(pos) FROM records WHERE at >= ?)")
            params.append(format_at(since))
        if session is not None:
            clauses.append("session = ?")
            params.append(session)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        cursor = self._query(f"SELECT {_COLUMNS} FROM records{where} ORDER BY pos", params)
        try:
            for row in cursor:
                yield StoredRow._make(row)
        except sqlite3.Error as exc:
            raise unavailable(self.path, exc, self._busy_timeout_s) from exc

    def record(self, seq: int) -> Record | None:
        """The record with ``seq``, or None."""
        row = self._query(f"SELECT {_COLUMNS} FROM records WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else _to_record(StoredRow._make(row))

    def records(
        self,
        *,
        session: str | None = None,
        since: datetime | None = None,
        kind: str | None = None,
    ) -> Iterator[Record]:
        """Records in storage order, filtered as ``rows`` does."""
        for row in self.rows(session=session, since=since, kind=kind):
            yield _to_record(row)

    def last_session(self) -> str | None:
        """The session of the latest ``session_started`` record, else of the latest record."""
        for sql in (
            "SELECT session FROM records WHERE kind = 'session_started' ORDER BY pos DESC LIMIT 1",
            "SELECT session FROM records WHERE session != '' ORDER BY pos DESC LIMIT 1",
        ):
            row = self._query(sql, ()).fetchone()
            if row:
                return str(row[0])
        return None

    def _query(self, sql: str, params: Any) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise unavailable(self.path, exc, self._busy_timeout_s) from exc

    # -- schema --------------------------------------------------------------

    def _schema_version(self) -> int | None:
        """The applied schema version, 0 for an empty file, None if it is not ours."""
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id == 0 and not tables:
            return 0
        if app_id != migrations.APPLICATION_ID or not {"records", "migrations"} <= tables:
            return None
        row = db.execute("SELECT max(version) FROM migrations").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        if self._schema_version() == migrations.LATEST_VERSION:
            return  # the usual case: no write lock needed to open
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = self._schema_version()
            if version is None:
                raise not_a_store(self.path)
            if version > migrations.LATEST_VERSION:
                raise _too_new(self.path, version)
            if version == 0:
                db.execute(f"PRAGMA application_id={migrations.APPLICATION_ID}")
                db.execute(migrations.CREATE_MIGRATIONS_TABLE)
            for migration in migrations.MIGRATIONS:
                if migration.version <= version:
                    continue
                for statement in migration.statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO migrations (version, description) VALUES (?, ?)",
                    (migration.version, migration.description),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def _to_record(row: StoredRow) -> Record:
    return Record(row.seq, row.at, row.session, row.kind, _load_data(row.data),
                  row.prev_hash, row.hash, row.v)


def _load_data(data_json: Any) -> dict[str, Any]:
    try:
        value = json.loads(data_json)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict):
        raise AuditUnavailable(
            "An audit record's data is not a JSON object: the store was edited by hand; "
            "run moat audit verify to find the record."
        )
    return value


def not_a_store(path: Path) -> AuditUnavailable:
    return AuditUnavailable(
        f"{path} is not a Moat audit store (it is an SQLite file without Moat's tables); "
        "check the path, or set audit.path."
    )


def _too_new(path: Path, version: int) -> AuditUnavailable:
    return AuditUnavailable(
        f"The audit store {path} has schema version {version}, newer than this Moat "
        f"understands ({migrations.LATEST_VERSION}); upgrade Moat, or set audit.path."
    )


def _not_writable(path: Path, why: str) -> AuditUnavailable:
    return AuditUnavailable(
        f"The audit store {path} is not writable ({why}); fix its permissions, or set audit.path."
    )


def _why_not_writable(path: Path) -> str | None:
    """The OS's reason when the file or its directory refuses writes, else None."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except FileNotFoundError:
        pass
    except OSError as exc:
        return exc.strerror
    directory = path.parent
    if directory.is_dir() and not os.access(directory, os.W_OK | os.X_OK):
        read_only = os.statvfs(directory).f_flag & os.ST_RDONLY
        return f"{os.strerror(errno.EROFS if read_only else errno.EACCES)} on its directory"
    return None


def unavailable(path: Path, exc: sqlite3.Error, busy_timeout_s: float) -> AuditUnavailable:
    """The user-facing error for an SQLite failure on the store at ``path``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return AuditUnavailable(
            f"The audit store {path} stayed locked by another process for more than "
            f"{busy_timeout_s:g} s; wait for the other Moat process, or set audit.path."
        )
    if name.startswith("SQLITE_FULL"):
        return AuditUnavailable(
            f"The audit store {path} cannot grow (the disk is full); "
            "free some space, or set audit.path."
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH")):
        return _not_writable(path, _why_not_writable(path) or str(exc))
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return AuditUnavailable(
            f"The audit store {path} is corrupt or not a Moat audit store ({exc}); "
            "move it aside so Moat starts a new one, or set audit.path."
        )
    return AuditUnavailable(
        f"The audit store {path} cannot be used ({exc}); check the disk, or set audit.path."
    )
