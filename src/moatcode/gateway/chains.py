"""Hash chains in the gateway's database, in the agent's record format.

A chain is the rows of ``records`` with one ``chain`` name, hashed exactly as
the agent's local log is (``moatcode.audit.record``), so the same verifier
and the same export format serve both. Appending locks the chain's row in
``chain_heads`` for the transaction (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` locks the whole file), so several replicas
appending to one chain still build one chain.

Checkpoints are the agent's format too, signed with the gateway's Ed25519 key.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from moatcode.audit.canonical import canonical_text
from moatcode.audit.checkpoint import CheckpointSigner
from moatcode.audit.record import (
    CHECKPOINT_KIND,
    GENESIS_HASH,
    RECORD_VERSION,
    body_text,
    format_at,
    hash_body,
)
from moatcode.audit.store import StoredRow
from moatcode.gateway.db import chain_heads, records

GATEWAY_CHAIN = "gateway"


def user_chain(user: str) -> str:
    return f"user:{user}"


@dataclass(frozen=True)
class NewRecord:
    """A record to append: ``data_json`` is already canonical JSON."""

    at: str
    session: str
    kind: str
    data_json: str
    rid: str | None = None


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    unsigned: int  # records since the last checkpoint


# Built once: SQLAlchemy builds and keys a statement on every call otherwise, which cost
# the database thread more than the rows it writes (measured: ~5 ms per batch).
def _create_head(insert: Any) -> Any:
    return insert.values(chain=bindparam("chain"), seq=0, hash=GENESIS_HASH,
                         unsigned=0).on_conflict_do_nothing()


_CREATE_HEAD = {"postgresql": _create_head(pg_insert(chain_heads)),
                "sqlite": _create_head(sqlite_insert(chain_heads))}
_READ_HEAD = select(chain_heads.c.seq, chain_heads.c.hash, chain_heads.c.unsigned).where(
    chain_heads.c.chain == bindparam("chain")).with_for_update()
_SAVE_HEAD = chain_heads.update().where(chain_heads.c.chain == bindparam("chain_")).values(
    seq=bindparam("seq"), hash=bindparam("hash"), unsigned=bindparam("unsigned"))
_INSERT_RECORDS = records.insert()


def lock_head(conn: Connection, chain: str) -> Head:
    """The chain's head, locked until the transaction ends (created if new)."""
    conn.execute(_CREATE_HEAD[conn.dialect.name], {"chain": chain})
    row = conn.execute(_READ_HEAD, {"chain": chain}).one()
    return Head(int(row.seq), str(row.hash), int(row.unsigned))


def append(conn: Connection, chain: str, items: Sequence[NewRecord], head: Head) -> Head:
    """Append ``items`` after ``head`` (locked by ``lock_head``); returns the new head."""
    if not items:
        return head
    seq, prev = head.seq, head.hash
    rows: list[dict[str, Any]] = []
    for item in items:
        seq += 1
        body = body_text(v=RECORD_VERSION, seq=seq, at=item.at, session=item.session,
                         kind=item.kind, data_json=item.data_json, prev_hash=prev)
        digest = hash_body(prev, body)
        rows.append({
            "chain": chain, "seq": seq, "v": RECORD_VERSION, "at": item.at,
            "session": item.session, "kind": item.kind, "data": item.data_json,
            "prev_hash": prev, "hash": digest, "rid": item.rid,
        })
        prev = digest
    conn.execute(_INSERT_RECORDS, rows)
    new_head = Head(seq, prev, head.unsigned + len(items))
    _save_head(conn, chain, new_head)
    return new_head


def append_checkpoint(
    conn: Connection, chain: str, head: Head, signer: CheckpointSigner, at: str
) -> Head:
    """Sign ``head`` with a checkpoint record; returns the head after it."""
    data = canonical_text(signer.sign(head.seq, head.hash))
    signed = append(conn, chain, [NewRecord(at, "", CHECKPOINT_KIND, data)], head)
    new_head = Head(signed.seq, signed.hash, 0)
    _save_head(conn, chain, new_head)
    return new_head


def _save_head(conn: Connection, chain: str, head: Head) -> None:
    conn.execute(_SAVE_HEAD, {"chain_": chain, "seq": head.seq, "hash": head.hash,
                              "unsigned": head.unsigned})


def list_chains(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(chain_heads.c.chain).order_by(chain_heads.c.chain)).all()
    return [str(r.chain) for r in rows]


def iter_rows(
    engine: Engine, chain: str, *, since: datetime | None = None, batch: int = 2000
) -> Iterator[StoredRow]:
    """The chain's rows in storage order, read in batches; ``since`` as the agent's export."""
    with engine.connect() as conn:
        start = 0
        if since is not None:
            first = conn.execute(
                select(func.min(records.c.pos)).where(
                    records.c.chain == chain, records.c.at >= format_at(since))
            ).scalar()
            if first is None:
                return
            start = int(first) - 1
        columns = (records.c.pos, records.c.seq, records.c.v, records.c.at, records.c.session,
                   records.c.kind, records.c.data, records.c.prev_hash, records.c.hash)
        while True:
            rows = conn.execute(
                select(*columns).where(records.c.chain == chain, records.c.pos > start)
                .order_by(records.c.pos).limit(batch)
            ).all()
            for row in rows:
                yield StoredRow(*row)
            if len(rows) < batch:
                return
            start = int(rows[-1].pos)
