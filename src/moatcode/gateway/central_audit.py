"""Reading the central store back: verify, export and report, as ``moat audit`` does locally.

Each chain (``gateway`` and every ``user:<name>``) is walked with the agent's
own verifier (``moatcode.audit.chain``), checkpoints checked against the
gateway's public key. Records after a chain's last checkpoint are reported as
an open tail: a running gateway is always writing one. Exports use the
agent's line format, so ``moat audit verify`` and the stand-alone verifier in
docs/audit.md check them too.

The report sums the ``gateway`` chain (requests, tokens and refusals by user,
team and model) and lists what the checks of shipped agent records found.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, select

from moatcode.audit.bodies import BodyUnavailable, rebuild
from moatcode.audit.chain import ChainSummary, Link, walk_chain
from moatcode.audit.checkpoint import signature_checker
from moatcode.audit.export import write_csv, write_jsonl
from moatcode.audit.record import CHECKPOINT_KIND, RECORD_VERSION, body_text, hash_body
from moatcode.audit.store import StoredRow
from moatcode.gateway import agent_records, chains
from moatcode.gateway.db import records
from moatcode.gateway.exchange import REQUEST_KIND


@dataclass(frozen=True)
class ChainVerdict:
    chain: str
    summary: ChainSummary

    @property
    def open_tail(self) -> bool:
        problem = self.summary.problem
        return problem is not None and problem.kind == "truncated"

    @property
    def ok(self) -> bool:
        return self.summary.problem is None or self.open_tail


def verify_central(
    engine: Engine, public_key: Ed25519PublicKey | None, chain: str | None = None
) -> list[ChainVerdict]:
    """Walk every chain (or one), checking checkpoint signatures when a key is given."""
    check = signature_checker(public_key) if public_key is not None else None
    names = [chain] if chain is not None else chains.list_chains(engine)
    return [
        ChainVerdict(name, walk_chain((_link(row) for row in chains.iter_rows(engine, name)),
                                      expect_genesis=True, check_signature=check))
        for name in names
    ]


def _link(row: StoredRow) -> Link:
    pos, seq, v, at, session, kind, data, prev_hash, digest = row
    if v != RECORD_VERSION:
        return Link(pos, seq, prev_hash, digest, kind,
                    f"record format version {v} is unknown to this gateway.",
                    error_kind="unsupported")
    body = body_text(v=v, seq=seq, at=at, session=session, kind=kind, data_json=data,
                     prev_hash=prev_hash)
    if hash_body(prev_hash, body) != digest:
        return Link(pos, seq, prev_hash, digest, kind, "its hash does not match its content.")
    checkpoint = json.loads(data) if kind == CHECKPOINT_KIND else None
    return Link(pos, seq, prev_hash, digest, kind, checkpoint=checkpoint)


def export_chain(engine: Engine, chain: str, fmt: Literal["jsonl", "csv"],
                 since: datetime | None, out: TextIO) -> int:
    rows = chains.iter_rows(engine, chain, since=since)
    return write_csv(rows, out) if fmt == "csv" else write_jsonl(rows, out)


@dataclass
class Tally:
    requests: int = 0
    refused: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    request_bytes: int = 0
    response_bytes: int = 0

    def add(self, data: dict[str, Any]) -> None:
        self.requests += 1
        outcome = data.get("outcome")
        self.refused += outcome == "refused"
        self.errors += outcome not in ("ok", "refused")
        self.prompt_tokens += int(data.get("prompt_tokens") or 0)
        self.completion_tokens += int(data.get("completion_tokens") or 0)
        self.request_bytes += int(data.get("request_bytes") or 0)
        self.response_bytes += int(data.get("response_bytes") or 0)


@dataclass
class UsageReport:
    since: str
    total: Tally = field(default_factory=Tally)
    by_user: dict[str, Tally] = field(default_factory=dict)
    by_team: dict[str, Tally] = field(default_factory=dict)
    by_model: dict[str, Tally] = field(default_factory=dict)
    refusals: Counter[str] = field(default_factory=Counter)
    agent_chains: list[dict[str, Any]] = field(default_factory=list)
    agent_problems: list[dict[str, Any]] = field(default_factory=list)


def agent_request_body(engine: Engine, user: str, seq: int, agent_chain: str | None = None) -> str:
    """The exact body of a model request an agent of ``user`` shipped, as record ``seq``.

    Agents keep a request body as what it adds to the one before
    (``audit.bodies``); the earlier records are in the same shipped chain.
    ``agent_chain`` picks the agent's chain when the user shipped from several.
    """
    requests: dict[str, dict[int, Any]] = {}
    for row in chains.iter_rows(engine, chains.user_chain(user)):
        if row.kind != agent_records.AGENT_RECORD_KIND:
            continue
        data = json.loads(row.data)
        record = data.get("record")
        if not isinstance(record, dict) or data.get("check") != "ok":
            continue
        found = requests.setdefault(str(data.get("chain")), {})
        if record.get("kind") == "model_request" and isinstance(record.get("seq"), int):
            found[record["seq"]] = record.get("data") or {}
    if agent_chain is None:
        if len(requests) != 1:
            names = ", ".join(sorted(requests)) or "none"
            raise BodyUnavailable(f"{user} shipped {len(requests)} agent chains ({names}); "
                                  "name one with --agent-chain.")
        agent_chain = next(iter(requests))
    shipped = requests.get(agent_chain, {})
    if seq not in shipped:
        raise BodyUnavailable(f"No model request {seq} of agent chain {agent_chain} was shipped "
                              f"by {user}; list them with moat gateway audit export --chain "
                              f"user:{user}.")
    return rebuild(shipped[seq], shipped.get, seq)


def build_usage_report(engine: Engine, since: datetime | None = None) -> UsageReport:
    report = UsageReport(since.isoformat() if since else "")
    for row in chains.iter_rows(engine, chains.GATEWAY_CHAIN, since=since):
        if row.kind != REQUEST_KIND:
            continue
        data = json.loads(row.data)
        report.total.add(data)
        for table, key in ((report.by_user, data.get("user") or "(unauthenticated)"),
                           (report.by_team, data.get("team") or "(none)"),
                           (report.by_model, data.get("resolved_model") or data.get("model")
                            or "(none)")):
            table.setdefault(str(key), Tally()).add(data)
        if data.get("reason"):
            report.refusals[str(data["reason"])] += 1
    report.agent_chains = agent_records.chain_summaries(engine)
    report.agent_problems = list(_agent_problems(engine))
    return report


def _agent_problems(engine: Engine) -> Iterator[dict[str, Any]]:
    query = select(records.c.chain, records.c.at, records.c.data).where(
        records.c.kind == agent_records.AGENT_RECORD_KIND,
        ~records.c.data.contains('"check":"ok"')).order_by(records.c.pos)
    with engine.connect() as conn:
        for row in conn.execute(query):
            data = json.loads(row.data)
            record = data.get("record") or {}
            yield {"user_chain": row.chain, "received_at": row.at, "chain": data.get("chain"),
                   "seq": record.get("seq"), "check": data.get("check"),
                   "detail": data.get("detail")}


def render_usage_report(report: UsageReport, fmt: Literal["md", "json"]) -> str:
    if fmt == "json":
        return json.dumps({
            "since": report.since, "total": report.total.__dict__,
            "by_user": {k: v.__dict__ for k, v in sorted(report.by_user.items())},
            "by_team": {k: v.__dict__ for k, v in sorted(report.by_team.items())},
            "by_model": {k: v.__dict__ for k, v in sorted(report.by_model.items())},
            "refusals": dict(sorted(report.refusals.items())),
            "agent_chains": report.agent_chains, "agent_problems": report.agent_problems,
        }, indent=2) + "\n"
    lines = ["# Gateway usage report", ""]
    if report.since:
        lines += [f"Since {report.since}.", ""]
    head = "| {} | requests | refused | failed | prompt tokens | completion tokens |"
    for title, table in (("User", report.by_user), ("Team", report.by_team),
                         ("Model", report.by_model)):
        lines += [f"## By {title.lower()}", "", head.format(title),
                  "|---|---:|---:|---:|---:|---:|"]
        for name, t in sorted(table.items()):
            lines.append(f"| {_cell(name)} | {t.requests} | {t.refused} | {t.errors} | "
                         f"{t.prompt_tokens} | {t.completion_tokens} |")
        lines.append("")
    lines += ["## Refusals", ""]
    lines += [f"- {reason}: {count}" for reason, count in sorted(report.refusals.items())] \
        or ["- none"]
    lines += ["", "## Agent logs shipped", "", "| user | chain | last seq | problems |",
              "|---|---|---:|---:|"]
    for c in report.agent_chains:
        lines.append(f"| {_cell(c['user'])} | {c['chain_id'][:16]} | {c['seq']} | "
                     f"{c['problems']} |")
    lines += ["", "## Problems in shipped agent logs", ""]
    lines += [f"- {p['user_chain']} chain {str(p['chain'])[:16]} record {p['seq']}: "
              f"{p['check']}: {p['detail']}" for p in report.agent_problems] or ["- none"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
