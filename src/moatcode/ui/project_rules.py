"""Save an allow rule to the project's ``.moat/config.toml``, keeping the user's comments.

The approval prompt's "always for this project" writes here with tomlkit, so a
hand-written file keeps its layout. Moat itself writes the file (a command in
the sandbox cannot: ``.moat`` is read-only there).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, Table

from moatcode.errors import ConfigError


def project_config_path(workspace: Path) -> Path:
    return workspace / ".moat" / "config.toml"


def save_allow_rules(workspace: Path, rules: Sequence[str]) -> Path:
    """Add ``rules`` to ``permissions.allow`` (once each); returns the file written."""
    path = project_config_path(workspace)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it, then approve again.") \
            from exc
    permissions = doc.get("permissions")
    if permissions is None:
        permissions = tomlkit.table()
        doc["permissions"] = permissions
    if not isinstance(permissions, Table):
        raise ConfigError(f"permissions in {path} is not a table; fix the file.")
    allow = permissions.get("allow")
    if allow is None:
        allow = tomlkit.array()
        allow.multiline(True)
        permissions["allow"] = allow
    if not isinstance(allow, Array):
        raise ConfigError(f"permissions.allow in {path} is not a list; fix the file.")
    for rule in rules:
        if rule not in allow:
            allow.append(rule)
    _write_atomic(path, tomlkit.dumps(doc))
    return path


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
