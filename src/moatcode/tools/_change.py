"""Save a new version of a file and describe the change for the record."""

from __future__ import annotations

from pathlib import Path

from moatcode.tools._files import sha256_bytes, unified_diff, write_atomic
from moatcode.types import FileChange


def save_change(display: str, path: Path, before: bytes | None, before_text: str | None,
                after_text: str, after: bytes) -> FileChange:
    write_atomic(path, after)
    return FileChange(
        path=display,
        before_sha256=sha256_bytes(before) if before is not None else None,
        after_sha256=sha256_bytes(after),
        diff=unified_diff(display, before_text, after_text),
    )


def read_existing(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
