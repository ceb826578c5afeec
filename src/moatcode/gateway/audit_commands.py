"""``moat gateway audit``: verify, export and report on the central store."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from moatcode.gateway._cli import engine_for, load_config


@click.group("audit")
def audit_group() -> None:
    """The central audit store: verify, export, report."""


@audit_group.command("verify")
@click.option("--chain", help="Only this chain (gateway, or user:NAME).")
@click.pass_context
def audit_verify(ctx: click.Context, chain: str | None) -> None:
    """Check every chain in the central store; exit 1 if any was tampered with."""
    from moatcode.gateway.central_audit import verify_central
    from moatcode.gateway.policy_doc import load_signing_key

    config = load_config(ctx)
    public_key = load_signing_key(config.signing_key).public_key()
    verdicts = verify_central(engine_for(ctx), public_key, chain)
    if not verdicts:
        click.echo("The central store holds no records yet.")
    bad = 0
    for v in verdicts:
        s = v.summary
        if v.ok:
            tail = ""
            if v.open_tail and s.problem is not None:
                tail = (f"; records {s.problem.seq} to {s.last_seq} are after the last "
                        "checkpoint (open tail)")
            click.echo(f"{v.chain}: intact, {s.records} records, head {s.head_hash}, "
                       f"{s.checkpoints} checkpoints verified{tail}")
        else:
            bad += 1
            p = s.problem
            assert p is not None
            click.echo(f"{v.chain}: NOT INTACT: {p.kind} at record {p.seq} (position "
                       f"{p.position}): {p.detail}")
    if bad:
        sys.exit(1)


@audit_group.command("export")
@click.option("--chain", default="gateway", show_default=True,
              help="The chain: gateway, or user:NAME.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--since", type=click.DateTime(), help="From the first record at or after this "
              "UTC time.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
@click.pass_context
def audit_export(ctx: click.Context, chain: str, fmt: str, since: datetime | None,
                 output: str | None) -> None:
    """Export a chain in the agent's format (moat audit verify checks it)."""
    from moatcode.gateway.central_audit import export_chain

    when = since.replace(tzinfo=UTC) if since else None
    engine = engine_for(ctx)
    if output:
        with open(output, "w", encoding="utf-8", newline="") as out:
            count = export_chain(engine, chain, fmt, when, out)  # type: ignore[arg-type]
        click.echo(f"Exported {count} records of {chain} to {output}.", err=True)
    else:
        export_chain(engine, chain, fmt, when, sys.stdout)  # type: ignore[arg-type]


@audit_group.command("body")
@click.argument("seq", type=int)
@click.option("--user", required=True, help="The user whose agent shipped the record.")
@click.option("--agent-chain", help="The agent's chain, when the user shipped from several.")
@click.pass_context
def audit_body(ctx: click.Context, seq: int, user: str, agent_chain: str | None) -> None:
    """The exact body of model request SEQ an agent shipped, checked against its hash."""
    from moatcode.gateway.central_audit import agent_request_body

    click.echo(agent_request_body(engine_for(ctx), user, seq, agent_chain), nl=False)


@audit_group.command("report")
@click.option("--since", type=click.DateTime(), help="Only requests from this UTC time on.")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md",
              show_default=True)
@click.pass_context
def audit_report(ctx: click.Context, since: datetime | None, fmt: str) -> None:
    """Requests, tokens and refusals by user, team and model; problems in shipped logs."""
    from moatcode.gateway.central_audit import build_usage_report, render_usage_report

    report = build_usage_report(engine_for(ctx), since.replace(tzinfo=UTC) if since else None)
    click.echo(render_usage_report(report, fmt), nl=False)  # type: ignore[arg-type]
