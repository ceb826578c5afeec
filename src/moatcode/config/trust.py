"""Which folders the user trusts, recorded per path in the user's data dir.

A repository's own settings (``.moat/config.toml``, ``.claude/settings*.json``)
may only tighten policy until its folder is trusted with ``moat trust``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from moatcode.errors import ConfigError

FILE_NAME = "trusted-folders.json"


def load_trusted(data_dir: Path) -> list[str]:
    path = data_dir / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"The trust list {path} cannot be read ({exc}); fix or delete it.") \
            from exc
    folders = data.get("folders") if isinstance(data, dict) else None
    return [str(f) for f in folders] if isinstance(folders, list) else []


def is_trusted(data_dir: Path, folder: Path) -> bool:
    return str(folder.resolve()) in load_trusted(data_dir)


def set_trusted(data_dir: Path, folder: Path, trusted: bool = True) -> bool:
    """Add (or remove) ``folder``; returns whether the list changed."""
    folders = load_trusted(data_dir)
    key = str(folder.resolve())
    if (key in folders) == trusted:
        return False
    folders = [*folders, key] if trusted else [f for f in folders if f != key]
    data_dir.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"folders": sorted(folders)}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".trust-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, data_dir / FILE_NAME)
    return True
