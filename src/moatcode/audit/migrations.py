"""The audit store's schema, as numbered migrations applied in order.

Each migration runs once, inside the transaction that records it in the
``migrations`` table, so a store is always at one whole version. Never edit a
migration that has shipped: add the next one.

The triggers make the intent plain: the store only ever inserts. Someone
editing the file by hand can drop them; that is what the hash chain is for.
"""

from __future__ import annotations

from dataclasses import dataclass

# PRAGMA application_id: marks the file as a Moat audit store ("MOAT").
APPLICATION_ID = 0x4D4F4154


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "records table, indexes, append-only triggers",
        (
            """CREATE TABLE records (
                pos INTEGER PRIMARY KEY,  -- storage order, what verification walks
                seq INTEGER NOT NULL,
                v INTEGER NOT NULL,
                at TEXT NOT NULL,
                session TEXT NOT NULL,
                kind TEXT NOT NULL,
                data TEXT NOT NULL,       -- canonical JSON, exactly the hashed bytes
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            )""",
            # A second guard, behind BEGIN IMMEDIATE, against two writers taking one seq.
            "CREATE UNIQUE INDEX records_seq ON records (seq)",
            "CREATE INDEX records_session ON records (session, pos)",
            "CREATE INDEX records_at ON records (at)",
            """CREATE TRIGGER records_no_update BEFORE UPDATE ON records
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            """CREATE TRIGGER records_no_delete BEFORE DELETE ON records
               BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

CREATE_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL
)"""
