"""The data-flow report for one session: what left the machine, and what Moat did.

Built from the audit store alone: every model request with the sources it
carried and the secrets masked out of it, every action with the verdict and
who or what allowed it, every file changed, and the state of the chain the
evidence comes from. ``render.py`` turns it into Markdown, HTML or JSON.

The events hold only redacted text, so the report cannot contain a secret
that redaction removed; it shows redactions by kind and location only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moatcode.audit.bodies import has_body
from moatcode.audit.record import Record
from moatcode.audit.store import AuditStore
from moatcode.audit.verify import VerifyResult, verify_store
from moatcode.errors import SessionNotFound
from moatcode.events import (
    AssistantTurn,
    Event,
    ModelRequestSent,
    PermissionDecided,
    SecretsRedacted,
    SessionEnded,
    SessionStarted,
    ToolCallFinished,
    ToolCallStarted,
    event_from_dict,
)
from moatcode.types import Redaction, Source, ToolCall, Usage


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    started_at: str
    ended_at: str  # "" while the session has no session_ended record
    user: str
    host: str
    cwd: str
    model: str
    endpoint: str
    permission_mode: str
    sandbox: str
    policy_hash: str
    moat_version: str
    git_remote: str
    git_head: str
    outcome: str
    usage: Usage


@dataclass(frozen=True)
class RequestRow:
    """One model request: where it went, how big, what it carried, what was masked."""

    seq: int
    at: str
    step: int
    endpoint: str
    model: str
    request_bytes: int
    estimated_tokens: int
    # From the matching model_response; None if the model never answered.
    prompt_tokens: int | None
    completion_tokens: int | None
    body_sha256: str
    body_recorded: bool
    sources: tuple[Source, ...]
    redactions: tuple[Redaction, ...]


@dataclass(frozen=True)
class ActionRow:
    """One tool call: what was asked, the verdict and who gave it, how it ended."""

    seq: int
    at: str
    call_id: str
    tool: str
    arguments: str
    decision: str  # "" if no verdict was recorded
    rule: str
    layer: str
    decided_by: str
    scope: str
    who: str
    wait_ms: float  # how long the person took to answer (0 when policy decided)
    ok: bool | None  # None if the tool never finished
    exit_code: int | None
    sandbox: str


@dataclass(frozen=True)
class FileRow:
    seq: int
    at: str
    call_id: str
    path: str
    before_sha256: str | None
    after_sha256: str | None
    diff: str


@dataclass(frozen=True)
class MaskedSecrets:
    """A ``secrets_redacted`` record: where secrets were masked before a prompt."""

    seq: int
    at: str
    location: str
    redactions: tuple[Redaction, ...]


@dataclass(frozen=True)
class Report:
    store: str
    session: SessionInfo
    requests: tuple[RequestRow, ...]
    actions: tuple[ActionRow, ...]
    files: tuple[FileRow, ...]
    masked: tuple[MaskedSecrets, ...]
    chain: VerifyResult


def build_report(
    path: Path, session_id: str | None = None, public_key_path: Path | None = None
) -> Report:
    """The report for ``session_id`` (default: the latest session) in the store at ``path``."""
    chain = verify_store(path, public_key_path)
    with AuditStore.open_readonly(path) as store:
        session = session_id if session_id is not None else store.last_session()
        if session is None:
            raise SessionNotFound(f"The audit store {path} holds no session yet; run moat first.")
        records = list(store.records(session=session))
    if not records:
        raise SessionNotFound(
            f"The audit store {path} has no session {session!r}; "
            "list the sessions with moat audit log."
        )
    return _assemble(str(path), session, records, chain)


def _assemble(store: str, session: str, records: list[Record], chain: VerifyResult) -> Report:
    events = [(r, e) for r in records if (e := _event(r)) is not None]
    usage_by_step: dict[int, Usage] = {}
    calls: dict[str, ToolCall] = {}
    # Every call id in the order it first appears, whichever event names it first:
    # a call refused by policy may have no tool_call or tool_result record.
    first_seen: dict[str, Record] = {}
    verdicts: dict[str, PermissionDecided] = {}
    results: dict[str, tuple[Record, ToolCallFinished]] = {}
    requests: list[RequestRow] = []
    masked: list[MaskedSecrets] = []
    for record, event in events:
        if isinstance(event, AssistantTurn):
            usage_by_step[event.step] = event.usage
            for call in event.message.tool_calls:
                calls.setdefault(call.id, call)
        elif isinstance(event, ToolCallStarted):
            calls[event.call.id] = event.call
            first_seen.setdefault(event.call.id, record)
        elif isinstance(event, PermissionDecided):
            verdicts[event.call_id] = event
            first_seen.setdefault(event.call_id, record)
        elif isinstance(event, ToolCallFinished):
            results[event.call_id] = (record, event)
            first_seen.setdefault(event.call_id, record)
        elif isinstance(event, SecretsRedacted):
            masked.append(MaskedSecrets(record.seq, record.at, event.location, event.redactions))
    for record, event in events:
        if isinstance(event, ModelRequestSent):
            usage = usage_by_step.get(event.step)
            requests.append(RequestRow(
                record.seq, record.at, event.step, event.endpoint, event.model,
                event.request_bytes, event.estimated_tokens,
                usage.prompt_tokens if usage else None,
                usage.completion_tokens if usage else None,
                event.body_sha256, has_body(record.data), event.sources, event.redactions,
            ))
    actions = tuple(
        _action(call_id, record, calls.get(call_id), verdicts.get(call_id), results.get(call_id))
        for call_id, record in first_seen.items()
    )
    files = tuple(
        FileRow(rec.seq, rec.at, fin.call_id, fin.change.path, fin.change.before_sha256,
                fin.change.after_sha256, fin.change.diff)
        for rec, fin in sorted(results.values(), key=lambda pair: pair[0].seq)
        if fin.change is not None
    )
    return Report(
        store, _session_info(session, events), tuple(requests), actions, files,
        tuple(masked), chain,
    )


def _action(
    call_id: str,
    record: Record,
    call: ToolCall | None,
    verdict: PermissionDecided | None,
    finished: tuple[Record, ToolCallFinished] | None,
) -> ActionRow:
    result = finished[1] if finished else None
    tool = call.name if call else verdict.tool if verdict else result.tool if result else ""
    return ActionRow(
        record.seq, record.at, call_id, tool, call.arguments if call else "",
        verdict.decision if verdict else "",
        verdict.rule if verdict else "",
        verdict.layer if verdict else "",
        verdict.decided_by if verdict else "",
        verdict.scope if verdict else "",
        verdict.who if verdict else "",
        verdict.wait_ms if verdict else 0.0,
        result.ok if result else None,
        result.exit_code if result else None,
        result.sandbox if result else "",
    )


def _session_info(session: str, events: list[tuple[Record, Event]]) -> SessionInfo:
    starts = [(r, e) for r, e in events if isinstance(e, SessionStarted)]
    ends = [(r, e) for r, e in events if isinstance(e, SessionEnded)]
    start = starts[0][1] if starts else SessionStarted("", "", "", "", (), "")
    end = ends[-1][1] if ends else None
    return SessionInfo(
        session_id=session,
        started_at=starts[0][0].at if starts else (events[0][0].at if events else ""),
        ended_at=ends[-1][0].at if ends else "",
        user=start.user,
        host=start.host,
        cwd=start.cwd,
        model=start.model,
        endpoint=start.endpoint,
        permission_mode=start.permission_mode,
        sandbox=start.sandbox,
        policy_hash=start.policy_hash,
        moat_version=start.moat_version,
        git_remote=start.git_remote,
        git_head=start.git_head,
        outcome=end.subtype if end else "not closed",
        usage=end.usage if end else Usage(),
    )


def _event(record: Record) -> Event | None:
    """The typed event a record holds, or None for checkpoints and unknown kinds."""
    data: dict[str, Any] = {"kind": record.kind, **record.data}
    if record.kind == ModelRequestSent.kind:
        # A body kept as a delta or a hash: event_from_dict ignores the delta's keys.
        data.setdefault("body", "")  # the report shows sizes and hashes, not bodies
    try:
        return event_from_dict(data)
    except (KeyError, TypeError):
        return None
