"""``moat policy``: the effective rules with their sources, and what a rule check says."""

from __future__ import annotations

import click

from moatcode.cli._load import load, workspace_for


@click.group("policy")
def policy() -> None:
    """Show and test the permission policy in effect here."""


@policy.command("show")
@click.option("--cwd", type=click.Path(file_okay=False), help="The project (default: here).")
def show_command(cwd: str | None) -> None:
    """Print every effective rule with the layer and file it comes from."""
    settings = load(workspace_for(cwd))
    from moatcode.cli.compose import create_policy

    engine = create_policy(settings)
    click.echo(f"mode: {settings.permissions.mode} "
               f"(from {settings.origins.get('permissions.mode', 'the default')})")
    if settings.permissions.allowed_modes != ("default", "accept-edits", "plan", "auto"):
        click.echo(f"modes the managed policy allows: "
                   f"{', '.join(settings.permissions.allowed_modes)}")
    if settings.locked:
        click.echo(f"locked by the managed policy: {', '.join(sorted(settings.locked))}")
    trusted = "trusted" if settings.project_trusted else "not trusted (only its deny/ask count)"
    click.echo(f"project folder: {settings.workspace} ({trusted})")
    for notice in settings.notices:
        click.echo(f"note: {notice}")
    click.echo("")
    for rule in engine.describe():
        where = f"{rule.source}:{rule.line}" if rule.line else rule.source
        note = f"  ({rule.note})" if rule.note else ""
        click.echo(f"{rule.decision:<5}  {rule.rule:<40}  {rule.layer:<8}  {where}{note}")


@policy.command("check")
@click.argument("action")
@click.option("--cwd", type=click.Path(file_okay=False), help="The project (default: here).")
@click.option("--mode", type=click.Choice(["default", "accept-edits", "plan", "auto"]),
              help="Check under this mode instead of the configured one.")
def check_command(action: str, cwd: str | None, mode: str | None) -> None:
    """Say what policy decides for ACTION, e.g. 'Bash(git push origin main)', and why.

    Exit code: 0 allow, 1 deny, 3 ask.
    """
    settings = load(workspace_for(cwd), {"permissions.mode": mode})
    from moatcode.cli.compose import create_policy
    from moatcode.policy.spec import parse_action_spec

    verdict = create_policy(settings).decide(parse_action_spec(action))
    click.echo(f"{verdict.decision}: {verdict.reason}")
    click.echo(f"rule: {verdict.rule} ({verdict.layer})")
    raise SystemExit({"allow": 0, "deny": 1, "ask": 3}[verdict.decision])
