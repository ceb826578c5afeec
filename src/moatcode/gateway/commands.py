"""``moat gateway``: serve, and administer users, teams, tokens and the central audit.

Every command reads the gateway's TOML file (``--config``, or
``MOAT_GATEWAY_CONFIG``, or /etc/moat/gateway.toml) and works on the
database it names, so an administrator can run them from any machine that
reaches the database, with the gateway running or not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from moatcode.errors import UsageError
from moatcode.gateway._cli import config_path, identity_store, load_config
from moatcode.gateway.audit_commands import audit_group
from moatcode.gateway.config import DEFAULT_CONFIG_PATH

F = TypeVar("F", bound=Callable[..., Any])

STARTER_CONFIG = """\
# Moat gateway configuration (docs/gateway.md lists every key).
[server]
host = "127.0.0.1"
port = 8080

[database]
url = "sqlite:///gateway.db"

[keys]
token_hash_key = "token-hash.key"
signing_key = "signing.key"

# [policy]
# file = "managed.toml"

# [models.qwen-coder]
# upstreams = ["http://127.0.0.1:8000/v1"]
# aliases = ["qwen"]
"""


@click.group("gateway")
@click.option("--config", "config", type=click.Path(dir_okay=False),
              envvar="MOAT_GATEWAY_CONFIG", default=str(DEFAULT_CONFIG_PATH),
              show_default=True, help="The gateway's TOML file.")
@click.pass_context
def gateway(ctx: click.Context, config: str) -> None:
    """Run the Moat gateway and administer it (users, teams, tokens, central audit)."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@gateway.command("init")
@click.pass_context
def init_command(ctx: click.Context) -> None:
    """Create the config (if missing), the keys and the database schema."""
    from moatcode.gateway import db
    from moatcode.gateway.identity import create_key_file
    from moatcode.gateway.policy_doc import (
        create_signing_key,
        load_signing_key,
        public_key_text,
        public_path,
    )

    path = config_path(ctx)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STARTER_CONFIG, encoding="utf-8")
        click.echo(f"Wrote a starter config to {path}; add your models to it.")
    config = load_config(ctx)
    if create_key_file(config.token_hash_key):
        click.echo(f"Created the token-hash key {config.token_hash_key}.")
    if create_signing_key(config.signing_key):
        click.echo(f"Created the signing key {config.signing_key} "
                   f"(public key in {public_path(config.signing_key)}).")
    engine = db.create_db_engine(config.database_url)
    try:
        db.ensure_schema(engine)
    finally:
        engine.dispose()
    click.echo(f"The database {engine.url.render_as_string(hide_password=True)} is ready.")
    key = public_key_text(load_signing_key(config.signing_key).public_key())
    click.echo("Pin the gateway's policy key in each agent's managed file:")
    click.echo(f'  [gateway]\n  policy_pubkey = "{key}"')


@gateway.command("serve")
@click.option("--host", help="Listen on this address (default: server.host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Listen on this port.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.pass_context
def serve_command(ctx: click.Context, host: str | None, port: int | None, log_level: str) -> None:
    """Serve the OpenAI-compatible API; SIGTERM finishes running streams, then stops."""
    import dataclasses
    import logging

    from moatcode.gateway.logs import configure_json_logging
    from moatcode.gateway.server import serve

    config = load_config(ctx, serving=True)
    changes: dict[str, Any] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    handler = configure_json_logging(getattr(logging, log_level.upper()))
    try:
        serve(dataclasses.replace(config, **changes))
    finally:
        handler.close()


@gateway.command("pubkey")
@click.pass_context
def pubkey_command(ctx: click.Context) -> None:
    """Print the key agents pin to verify the gateway's policy."""
    from moatcode.gateway.policy_doc import load_signing_key, public_key_text

    click.echo(public_key_text(load_signing_key(load_config(ctx).signing_key).public_key()))


# -- identity -----------------------------------------------------------------------


@gateway.group("team")
def team_group() -> None:
    """Teams: which models their users may use, and their quotas."""


def _limit_options(function: F) -> F:
    for name, text in reversed((
        ("--user-tpm", "Tokens per minute for each user of the team."),
        ("--user-tpd", "Tokens per day for each user of the team."),
        ("--team-tpm", "Tokens per minute for the whole team."),
        ("--team-tpd", "Tokens per day for the whole team."),
        ("--max-request-bytes", "The largest request body the team may send."),
    )):
        function = click.option(name, type=click.IntRange(min=0), help=text)(function)
    return function


@team_group.command("add")
@click.argument("name")
@click.option("--model", "models", multiple=True, help="A model the team may use. Repeatable.")
@click.option("--all-models", is_flag=True, help="The team may use every model.")
@_limit_options
@click.pass_context
def team_add(ctx: click.Context, /, name: str, models: tuple[str, ...], all_models: bool,
             user_tpm: int | None, user_tpd: int | None, team_tpm: int | None,
             team_tpd: int | None, max_request_bytes: int | None) -> None:
    """Add a team."""
    from moatcode.gateway.identity import ALL_MODELS, Team

    chosen = (ALL_MODELS,) if all_models else models
    team = identity_store(ctx).add_team(Team(name, tuple(chosen), user_tpm, user_tpd, team_tpm,
                                        team_tpd, max_request_bytes))
    click.echo(f"Added team {team.name}: {_describe_team(team)}.")


@team_group.command("set")
@click.argument("name")
@click.option("--model", "models", multiple=True, help="Replace the team's models. Repeatable.")
@click.option("--all-models", is_flag=True, help="The team may use every model.")
@_limit_options
@click.pass_context
def team_set(ctx: click.Context, /, name: str, models: tuple[str, ...], all_models: bool,
             user_tpm: int | None, user_tpd: int | None, team_tpm: int | None,
             team_tpd: int | None, max_request_bytes: int | None) -> None:
    """Change a team's models or limits (a limit of 0 removes it)."""
    from moatcode.gateway.identity import ALL_MODELS

    limits = {"user_tpm": user_tpm, "user_tpd": user_tpd, "team_tpm": team_tpm,
              "team_tpd": team_tpd, "max_request_bytes": max_request_bytes}
    changes: dict[str, object] = {k: (v or None) for k, v in limits.items() if v is not None}
    if all_models:
        changes["models"] = (ALL_MODELS,)
    elif models:
        changes["models"] = tuple(models)
    team = identity_store(ctx).set_team(name, **changes)
    click.echo(f"Team {team.name}: {_describe_team(team)}.")


@team_group.command("list")
@click.pass_context
def team_list(ctx: click.Context) -> None:
    """List the teams."""
    teams = identity_store(ctx).list_teams()
    if not teams:
        click.echo("No teams yet; add one with moat gateway team add.")
    for team in teams:
        click.echo(f"{team.name}: {_describe_team(team)}")


def _describe_team(team: Any) -> str:
    parts = ["models " + (", ".join(team.models) or "none")]
    for name in ("user_tpm", "user_tpd", "team_tpm", "team_tpd", "max_request_bytes"):
        value = getattr(team, name)
        if value is not None:
            parts.append(f"{name} {value}")
    return "; ".join(parts)


@gateway.group("user")
def user_group() -> None:
    """Users of the gateway."""


@user_group.command("add")
@click.argument("name")
@click.option("--team", required=True, help="The user's team.")
@click.pass_context
def user_add(ctx: click.Context, name: str, team: str) -> None:
    """Add a user to a team."""
    user = identity_store(ctx).add_user(name, team)
    click.echo(f"Added user {user.name} to team {user.team}.")


@user_group.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List the users."""
    users = identity_store(ctx).list_users()
    if not users:
        click.echo("No users yet; add one with moat gateway user add.")
    for user in users:
        state = "  (disabled)" if user.disabled else ""
        click.echo(f"{user.name}  team {user.team}  since {user.created_at[:10]}{state}")


@user_group.command("disable")
@click.argument("name")
@click.pass_context
def user_disable(ctx: click.Context, name: str) -> None:
    """Disable a user: their tokens stop working on every replica within identity.refresh_s."""
    identity_store(ctx).set_disabled(name, True)
    click.echo(f"Disabled user {name}.")


@user_group.command("enable")
@click.argument("name")
@click.pass_context
def user_enable(ctx: click.Context, name: str) -> None:
    """Enable a disabled user again."""
    identity_store(ctx).set_disabled(name, False)
    click.echo(f"Enabled user {name}.")


@gateway.group("token")
def token_group() -> None:
    """API tokens: created per user, shown once, stored only as a keyed hash."""


@token_group.command("create")
@click.argument("user")
@click.option("--expires-in", metavar="DURATION",
              help="How long the token lasts, e.g. 90d, 12h, 30m (default: no expiry).")
@click.option("--label", default="", help="A note saying what the token is for.")
@click.pass_context
def token_create(ctx: click.Context, user: str, expires_in: str | None, label: str) -> None:
    """Create a token for USER and print it (the only time it is shown)."""
    expires = datetime.now(UTC) + parse_duration(expires_in) if expires_in else None
    info, token = identity_store(ctx).create_token(user, expires_at=expires, label=label)
    click.echo(token)
    until = f", expires {info.expires_at}" if info.expires_at else ""
    click.echo(f"Token {info.id} for {info.user}{until}. It is shown only now; the gateway "
               "keeps only a keyed hash of it.", err=True)


@token_group.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token by its id (every replica refuses it within identity.refresh_s)."""
    info = identity_store(ctx).revoke_token(token_id)
    click.echo(f"Revoked token {info.id} of {info.user}.")


@token_group.command("list")
@click.option("--user", help="Only this user's tokens.")
@click.pass_context
def token_list(ctx: click.Context, user: str | None) -> None:
    """List tokens (ids and dates; the tokens themselves are not kept)."""
    tokens = identity_store(ctx).list_tokens(user)
    if not tokens:
        click.echo("No tokens.")
    for t in tokens:
        state = f"revoked {t.revoked_at[:19]}" if t.revoked_at else (
            f"expires {t.expires_at[:19]}" if t.expires_at else "no expiry")
        label = f"  {t.label}" if t.label else ""
        click.echo(f"{t.id}  {t.user}  created {t.created_at[:19]}  {state}{label}")


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if not match:
        raise UsageError(f"{text!r} is not a duration; write it like 90d, 12h or 30m.")
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: number})


gateway.add_command(audit_group)
