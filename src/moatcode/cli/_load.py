"""Settings for a command: the workspace it works in and the layered settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from moatcode.cli._git import find_root
from moatcode.config.load import load_settings
from moatcode.config.settings import Settings
from moatcode.errors import UsageError


def workspace_for(cwd: str | None) -> Path:
    """The repository root containing ``cwd`` (or the current directory), else itself."""
    base = Path(cwd).resolve() if cwd else Path.cwd()
    if not base.is_dir():
        raise UsageError(f"{base} is not a directory; pass an existing one to --cwd.")
    return find_root(base) or base


def load(workspace: Path, flags: dict[str, Any] | None = None,
         rules: dict[str, list[str]] | None = None) -> Settings:
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    return load_settings(env=os.environ, flags=flags, flag_rules=rules, workspace=workspace,
                         home=Path.home(), gateway_policy=fetch_gateway_policy)


def fetch_gateway_policy(url: str, token: str | None, pubkey: str, cache_dir: Path,
                         max_age_s: int) -> dict[str, Any]:
    from moatcode.gateway.agent_link import fetch_policy

    return fetch_policy(url, token, pubkey, cache_dir, max_age_s)
