"""What every ``moat gateway`` command needs: the config, the database, the identity store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from moatcode.gateway.config import GatewayConfig, load_gateway_config


def config_path(ctx: click.Context) -> Path:
    return Path(ctx.obj["config"])


def load_config(ctx: click.Context, *, serving: bool = False) -> GatewayConfig:
    return load_gateway_config(config_path(ctx), os.environ, need_upstream_keys=serving)


def identity_store(ctx: click.Context) -> Any:
    """The identity store on the configured database (its schema created if new)."""
    from moatcode.gateway import db
    from moatcode.gateway.identity import IdentityStore, load_key

    config = load_config(ctx)
    engine = db.create_db_engine(config.database_url)
    db.ensure_schema(engine)
    ctx.call_on_close(engine.dispose)
    return IdentityStore(engine, load_key(config.token_hash_key))


def engine_for(ctx: click.Context) -> Any:
    """An engine for the configured database, disposed when the command ends."""
    from moatcode.gateway import db

    engine = db.create_db_engine(load_config(ctx).database_url)
    ctx.call_on_close(engine.dispose)
    return engine
