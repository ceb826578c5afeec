"""The gateway's database: the schema, the engine, and the migrations.

One schema for SQLite (one machine) and PostgreSQL (several replicas), in
SQLAlchemy Core. Every replica reads and writes the same tables, so nothing a
second replica needs lives only in one process's memory:

``teams``, ``users``, ``tokens``
    identity and access rules; tokens are stored only as a keyed hash.
``usage``
    tokens used per user and per team in fixed minute and day windows, added
    to in the same transaction as the audit records that account for them.
``records``, ``chain_heads``
    hash chains in the agent's record format: ``gateway`` holds one record per
    request, ``user:<name>`` the records each user's agents shipped. The head
    row is locked while a batch is appended, so replicas build one chain.
``agent_chains``, ``agent_seqs``
    what the gateway holds of each agent's own chain, to spot gaps and forks.

SQLite runs in WAL mode and takes the write lock at the start of every
transaction (``BEGIN IMMEDIATE``), so a read-then-append never races another
writer. Failures surface as ``DatabaseUnavailable``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from moatcode.errors import MoatError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# pg_advisory_xact_lock key: "MOAT" as an integer, so replicas migrate one at a time.
_MIGRATION_LOCK = 0x4D4F4154

metadata = MetaData()

teams = Table(
    "teams", metadata,
    Column("name", String(128), primary_key=True),
    Column("models", Text, nullable=False),  # JSON list of model names; "*" means all
    Column("user_tpm", BigInteger),
    Column("user_tpd", BigInteger),
    Column("team_tpm", BigInteger),
    Column("team_tpd", BigInteger),
    Column("max_request_bytes", BigInteger),
    Column("created_at", String(40), nullable=False),
)

users = Table(
    "users", metadata,
    Column("name", String(128), primary_key=True),
    Column("team", String(128), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", String(40), nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("user", String(128), nullable=False),
    Column("digest", String(64), nullable=False),  # HMAC-SHA256 of the token, hex
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40)),
    Column("revoked_at", String(40)),
    Index("tokens_user", "user"),
)

usage = Table(
    "usage", metadata,
    Column("scope", String(8), nullable=False),  # "user" | "team"
    Column("name", String(128), nullable=False),
    Column("window", String(8), nullable=False),  # "minute" | "day"
    Column("start", BigInteger, nullable=False),  # the window's first second (Unix time)
    Column("tokens", BigInteger, nullable=False),
    PrimaryKeyConstraint("scope", "name", "window", "start"),
    Index("usage_start", "start"),
)

records = Table(
    "records", metadata,
    Column("pos", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("chain", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("v", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Column("session", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON, exactly the hashed bytes
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The request id of a gateway record: replaying a batch after a failure is idempotent.
    Column("rid", String(64), unique=True),
    UniqueConstraint("chain", "seq", name="records_chain_seq"),
    Index("records_chain_pos", "chain", "pos"),
    Index("records_chain_at", "chain", "at"),
)

chain_heads = Table(
    "chain_heads", metadata,
    Column("chain", String(200), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("unsigned", BigInteger, nullable=False, default=0),
)

agent_chains = Table(
    "agent_chains", metadata,
    Column("chain_id", String(128), primary_key=True),
    Column("user", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("head_at", String(40), nullable=False, default=""),  # the head record's own time
    Column("problems", BigInteger, nullable=False, default=0),
    Column("updated_at", String(40), nullable=False),
)

agent_seqs = Table(
    "agent_seqs", metadata,
    Column("chain_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("chain_id", "seq"),
)

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
)


class DatabaseUnavailable(MoatError):
    """The gateway's database cannot be reached or refused an operation."""

    exit_code = 5


def create_db_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10.0},
            pool_size=pool_size, max_overflow=pool_size,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        pool_recycle=1800, connect_args={"connect_timeout": 5},
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, as IMMEDIATE.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the schema; replicas starting together migrate one at a time."""
    try:
        with engine.begin() as conn:
            if is_postgres(engine):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(text("SELECT max(version) FROM schema_version")).scalar()
            version = int(current or 0)
            if version > SCHEMA_VERSION:
                raise DatabaseUnavailable(
                    f"The gateway database has schema version {version}, newer than this "
                    f"gateway understands ({SCHEMA_VERSION}); upgrade the gateway."
                )
            if version < 1:
                metadata.create_all(conn, checkfirst=True)
                conn.execute(
                    schema_version.insert(),
                    {"version": 1, "description": "identity, usage, hash-chained records"},
                )
    except SQLAlchemyError as exc:
        raise unavailable(engine, exc) from exc


def unavailable(engine: Engine, exc: BaseException) -> DatabaseUnavailable:
    where = engine.url.render_as_string(hide_password=True)
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DatabaseUnavailable(
        f"The gateway database {where} cannot be used ({reason}); start it or fix "
        "database.url in the gateway config."
    )
