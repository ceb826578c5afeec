"""Records shipped by agents: checked against the agent's own chain, kept in the user's.

An agent's local log is one hash chain per store, named here by the
``chain_id`` the agent sends (the hash of its first record). For each chain
the gateway keeps the head it has accepted (``agent_chains``) and the hash it
accepted at each ``seq`` (``agent_seqs``), and checks every record it is sent:

``ok``         the record's hash matches its content and it follows the head;
``edited``     its hash does not match its content (forged or altered);
``gap``        it skips records the gateway never received (deleted locally);
``fork``       it does not link to the record the gateway holds before it, or
               it replaces a record already received with a different one
               (history rewritten after shipping).

A record already received unchanged is a duplicate and is skipped, so an
agent can always resend. Every other record is kept, whatever the verdict,
as a record of kind ``agent_record`` in the gateway's own chain for the user
(``user:<name>``), hashed by the gateway: the verdict travels with the
evidence. The whole batch is one transaction under the chain's lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from moatcode.audit.canonical import canonical_text
from moatcode.audit.checkpoint import CheckpointSigner
from moatcode.audit.record import GENESIS_HASH, hash_record_dict
from moatcode.errors import MoatError
from moatcode.gateway import chains, db
from moatcode.gateway.db import agent_chains, agent_seqs

AGENT_RECORD_KIND = "agent_record"
Check = Literal["ok", "edited", "gap", "fork"]


class ChainForbidden(MoatError):
    """The chain was first shipped by another user."""


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: Check
    detail: str


@dataclass(frozen=True)
class AgentHead:
    """The last record the gateway holds of an agent's chain (seq 0 for none)."""

    seq: int
    hash: str
    at: str  # that record's own time, so the agent can read its log from there


@dataclass(frozen=True)
class IngestResult:
    chain_id: str
    accepted: int
    duplicates: int
    head: AgentHead
    problems: tuple[ChainProblem, ...]


def agent_head(engine: Engine, user: str, chain_id: str) -> AgentHead:
    """The last record the gateway holds of ``chain_id``."""
    try:
        with engine.connect() as conn:
            row = conn.execute(select(agent_chains).where(
                agent_chains.c.chain_id == chain_id)).first()
    except SQLAlchemyError as exc:
        raise db.unavailable(engine, exc) from exc
    if row is None:
        return AgentHead(0, GENESIS_HASH, "")
    if row.user != user:
        raise ChainForbidden(f"The audit chain {chain_id} belongs to another user.")
    return AgentHead(int(row.seq), str(row.hash), str(row.head_at))


def ingest(
    engine: Engine,
    *,
    user: str,
    token_id: str,
    chain_id: str,
    batch: Sequence[Mapping[str, Any]],
    at: str,
    signer: CheckpointSigner | None = None,
    checkpoint_every: int = 1000,
) -> IngestResult:
    """Check and keep ``batch`` (agent records in ``seq`` order) in one transaction."""
    try:
        with engine.begin() as conn:
            return _ingest(conn, user, token_id, chain_id, batch, at, signer, checkpoint_every)
    except SQLAlchemyError as exc:
        raise db.unavailable(engine, exc) from exc


def _ingest(
    conn: Connection, user: str, token_id: str, chain_id: str,
    batch: Sequence[Mapping[str, Any]], at: str, signer: CheckpointSigner | None,
    checkpoint_every: int,
) -> IngestResult:
    seq, head_hash, head_at, problems_before = _lock_agent_chain(conn, user, chain_id, at)
    kept: list[chains.NewRecord] = []
    problems: list[ChainProblem] = []
    duplicates = 0
    for record in batch:
        r_seq = int(record["seq"])
        claimed = str(record["hash"])
        stored = _stored_hash(conn, chain_id, r_seq) if r_seq <= seq else None
        if stored is not None and stored == claimed and _hash_ok(record):
            duplicates += 1
            continue
        check, detail = _classify(record, r_seq, claimed, seq, head_hash, stored)
        if stored is None:
            _remember(conn, chain_id, r_seq, claimed)
        if r_seq > seq:
            seq, head_hash, head_at = r_seq, claimed, str(record.get("at", ""))
        if check != "ok":
            problems.append(ChainProblem(r_seq, check, detail))
        data = {"chain": chain_id, "token_id": token_id, "check": check, "detail": detail,
                "record": dict(record)}
        kept.append(chains.NewRecord(at, str(record.get("session", ""))[:200],
                                     AGENT_RECORD_KIND, canonical_text(data)))
    if kept:
        name = chains.user_chain(user)
        head = chains.lock_head(conn, name)
        head = chains.append(conn, name, kept, head)
        if signer is not None and head.unsigned >= checkpoint_every:
            chains.append_checkpoint(conn, name, head, signer, at)
    conn.execute(agent_chains.update().where(agent_chains.c.chain_id == chain_id).values(
        seq=seq, hash=head_hash, head_at=head_at, problems=problems_before + len(problems),
        updated_at=at))
    return IngestResult(chain_id, len(kept), duplicates, AgentHead(seq, head_hash, head_at),
                        tuple(problems))


def _classify(
    record: Mapping[str, Any], r_seq: int, claimed: str, seq: int, head_hash: str,
    stored: str | None,
) -> tuple[Check, str]:
    if not _hash_ok(record):
        return "edited", f"record {r_seq}'s hash does not match its content."
    if r_seq <= seq:
        if stored is None:
            return "gap", (f"record {r_seq} arrived late, after record {seq}: it was "
                           "missing when the records after it came.")
        return "fork", (f"record {r_seq} differs from the record {r_seq} received before: "
                        "the agent's log was rewritten after it was shipped.")
    if r_seq > seq + 1:
        return "gap", (f"records {seq + 1} to {r_seq - 1} were never received: they are "
                       "missing from the agent's log.")
    if record.get("prev_hash") != head_hash:
        return "fork", (f"record {r_seq} does not link to record {seq} as received: the "
                        "agent's log was rewritten.")
    return "ok", ""


def _hash_ok(record: Mapping[str, Any]) -> bool:
    try:
        return hash_record_dict(dict(record)) == record.get("hash")
    except (ValueError, TypeError):
        return False


def _lock_agent_chain(
    conn: Connection, user: str, chain_id: str, at: str
) -> tuple[int, str, str, int]:
    values = {"chain_id": chain_id, "user": user, "seq": 0, "hash": GENESIS_HASH,
              "head_at": "", "problems": 0, "updated_at": at}
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(agent_chains).values(**values).on_conflict_do_nothing())
    else:
        conn.execute(sqlite_insert(agent_chains).values(**values).on_conflict_do_nothing())
    row = conn.execute(select(agent_chains).where(
        agent_chains.c.chain_id == chain_id).with_for_update()).one()
    if row.user != user:
        raise ChainForbidden(f"The audit chain {chain_id} belongs to another user.")
    return int(row.seq), str(row.hash), str(row.head_at), int(row.problems)


def _stored_hash(conn: Connection, chain_id: str, seq: int) -> str | None:
    row = conn.execute(select(agent_seqs.c.hash).where(
        agent_seqs.c.chain_id == chain_id, agent_seqs.c.seq == seq)).first()
    return str(row.hash) if row else None


def _remember(conn: Connection, chain_id: str, seq: int, digest: str) -> None:
    conn.execute(agent_seqs.insert().values(chain_id=chain_id, seq=seq, hash=digest))


def chain_summaries(engine: Engine) -> list[dict[str, Any]]:
    """Every agent chain the gateway holds: owner, head, problems found."""
    with engine.connect() as conn:
        rows = conn.execute(select(agent_chains).order_by(agent_chains.c.user,
                                                          agent_chains.c.chain_id)).all()
    return [dict(row._mapping) for row in rows]
