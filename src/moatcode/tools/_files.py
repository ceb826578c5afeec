"""Reading and writing files for the tools: encodings, atomic writes, diffs."""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

BINARY_SNIFF = 8192


@dataclass(frozen=True)
class TextFile:
    text: str
    encoding: str  # "utf-8", "utf-8-sig" or "latin-1" (lossless fallback)
    newline: str  # "\n" or "\r\n"


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:BINARY_SNIFF]


def decode_text(data: bytes) -> TextFile:
    """Decode file bytes without losing any: UTF-8 when it is, else latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        text, encoding = data[3:].decode("utf-8", errors="surrogateescape"), "utf-8-sig"
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
    newline = "\r\n" if "\r\n" in text[:BINARY_SNIFF * 4] else "\n"
    return TextFile(text, encoding, newline)


def encode_text(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8", errors="surrogateescape")
    return text.encode(encoding)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by temp file and rename, keeping its permissions.

    A reader never sees a half-written file, and a crash leaves either the old
    file or the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".moat-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unified_diff(display: str, before: str | None, after: str | None) -> str:
    """A unified diff; ``None`` on either side means the file did not exist."""
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=f"a/{display}" if before is not None else "/dev/null",
        tofile=f"b/{display}" if after is not None else "/dev/null",
        n=3,
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
