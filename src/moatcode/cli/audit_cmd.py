"""``moat audit``: verify, read, export and report on the local audit log."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from moatcode.cli._load import load, workspace_for
from moatcode.errors import UsageError

# The audit modules are imported by the commands that use them, so that `moat`
# itself (every command's parser is built at start) starts fast.
if TYPE_CHECKING:
    from moatcode.audit.verify import VerifyResult

STORE_HELP = "The audit store or a JSON-lines export (default: yours)."


def _store(ctx: click.Context, path: str | None) -> Path:
    if path:
        return Path(path)
    from moatcode.cli.compose import audit_path

    return audit_path(load(workspace_for(None)))


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--since {value!r} is not a date; write it as 2026-11-22 or "
                         "2026-11-22T09:30.") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.group("audit")
def audit() -> None:
    """Check and read the tamper-evident audit log."""


@audit.command("verify")
@click.option("--file", "path", type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--pubkey", type=click.Path(dir_okay=False),
              help="Check checkpoint signatures with this Ed25519 public key "
                   "(default: your own key's, when it exists).")
@click.option("--no-signatures", is_flag=True, help="Do not check checkpoint signatures.")
@click.pass_context
def verify_command(ctx: click.Context, path: str | None, pubkey: str | None,
                   no_signatures: bool) -> None:
    """Walk the hash chain; exit 0 when intact, 1 naming the first bad record.

    Exit 3 when the chain is intact but its last records come after the last
    signed checkpoint: the last session is still running or was killed, or
    records were cut off and re-chained by someone without the signing key.
    The next session that closes signs them.
    """
    from moatcode.audit.checkpoint import public_key_path_for
    from moatcode.audit.verify import verify_store
    from moatcode.cli.compose import audit_key_path

    store = _store(ctx, path)
    key: Path | None = Path(pubkey) if pubkey else None
    if key is None and not no_signatures and not path:
        own = public_key_path_for(audit_key_path(load(workspace_for(None))))
        key = own if own.exists() else None
    result = verify_store(store, key)
    click.echo(describe_result(result))
    if result.ok:
        sys.exit(0)
    sys.exit(3 if result.problem is not None and result.problem.kind == "truncated" else 1)


def describe_result(result: VerifyResult) -> str:
    span = (f"records {result.first_seq}-{result.last_seq}" if result.first_seq is not None
            else "no records")
    signed = (f"; {result.checkpoints} signed checkpoints checked with key {result.signed_by}"
              if result.signed_by else f"; {result.checkpoints} checkpoints (signatures not "
              "checked: pass --pubkey)")
    lines = []
    if result.ok:
        lines.append(f"OK: {result.path}: {result.records} records intact ({span}){signed}.")
        if result.head_hash:
            lines.append(f"head {result.head_hash}")
    else:
        problem = result.problem
        assert problem is not None
        where = f"seq {problem.seq}" if problem.seq is not None else f"record {problem.position}"
        lines.append(f"FAILED: {result.path}: {problem.kind} at {where}: {problem.detail}")
        if result.last_seq is not None:
            lines.append(f"the chain is intact up to seq {result.last_seq}.")
    if result.torn is not None:
        lines.append(f"note: the last line is torn (a write was cut off): {result.torn.detail}")
    return "\n".join(lines)


@audit.command("log")
@click.option("--file", "path", type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--session", help="Only this session (id or prefix).")
@click.option("--since", help="Only records at or after this date/time (ISO 8601).")
@click.option("--kind", help="Only records of this kind, e.g. tool_call.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.pass_context
def log_command(ctx: click.Context, path: str | None, session: str | None, since: str | None,
                kind: str | None, as_json: bool) -> None:
    """Show audit records as a table or JSON lines."""
    from moatcode.audit.log import iter_log_rows

    rows = iter_log_rows(_store(ctx, path), session=session, since=_since(since), kind=kind)
    for row in rows:
        if as_json:
            click.echo(json.dumps({"seq": row.seq, "at": row.at, "session": row.session,
                                   "kind": row.kind, "summary": row.summary}))
        else:
            click.echo(f"{row.seq:>6}  {row.at[:19]}  {row.session[:8]:<8}  {row.kind:<16}  "
                       f"{row.summary}")


@audit.command("export")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="The audit store.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--since", help="Only records at or after this date/time (ISO 8601).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.pass_context
def export_command(ctx: click.Context, path: str | None, fmt: str, since: str | None,
                   out: str | None) -> None:
    """Export records for a SIEM, each line self-contained with its hash."""
    from moatcode.audit.export import export_records

    store = _store(ctx, path)
    if out:
        target = Path(out)
        partial = target.with_name(target.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as handle:
            count = export_records(store, fmt, _since(since), handle)  # type: ignore[arg-type]
        partial.replace(target)
        click.echo(f"Exported {count} records to {target}.", err=True)
    else:
        export_records(store, fmt, _since(since), sys.stdout)  # type: ignore[arg-type]


@audit.command("report")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="The audit store.")
@click.option("--session", help="The session (default: the latest).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.pass_context
def report_command(ctx: click.Context, path: str | None, session: str | None, fmt: str,
                   out: str | None) -> None:
    """The data-flow report of a session: what was sent where, and who allowed what."""
    from moatcode.audit.render import render_report
    from moatcode.audit.report import build_report

    report = build_report(_store(ctx, path), session)
    text = render_report(report, fmt)  # type: ignore[arg-type]
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}.", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@audit.command("body")
@click.argument("seq", type=int)
@click.option("--file", "path", type=click.Path(dir_okay=False), help="The audit store.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.pass_context
def body_command(ctx: click.Context, seq: int, path: str | None, out: str | None) -> None:
    """The exact JSON body of the model request in record SEQ, checked against its hash."""
    from moatcode.audit.bodies import request_body

    body = request_body(_store(ctx, path), seq)
    if out:
        Path(out).write_text(body, encoding="utf-8")
        click.echo(f"Wrote {out}.", err=True)
    else:
        click.echo(body, nl=False)  # exactly the bytes that were hashed and sent
