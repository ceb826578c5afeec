"""Which hidden directories a sandboxed command still needs: the user's toolchains.

The sandbox hides the home directory (and ``/root``, ``/home``, and ``/tmp``
behind a private one), yet interpreters and compilers often live there:
``~/.pyenv``, ``~/.cargo``, ``~/.nvm``, a virtual environment whose ``python``
links into one. For every directory on the command's ``PATH``, and every
executable there that is a link, the toolchain it belongs to is shown again,
read-only: under a home directory the top directory (``~/.pyenv``); elsewhere
the prefix holding ``bin`` (a virtual environment under ``/tmp``). Directories
that hold credentials or settings (``~/.ssh``, ``~/.config``, ...) are never
shown whole: only the exact directory on ``PATH``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# Never shown whole, whatever PATH says: credentials and per-user settings live here.
PRIVATE = frozenset({
    ".ssh", ".aws", ".gnupg", ".config", ".local", ".docker", ".kube", ".azure", ".gcloud",
    ".netrc", ".git-credentials", ".npmrc", ".pypirc", ".password-store", ".mozilla",
    ".cache", ".terraform.d", ".vault-token", ".moat",
})


def find_toolchains(path_dirs: Iterable[str], homes: Iterable[Path],
                    scratch: Iterable[Path] = ()) -> tuple[Path, ...]:
    """Directories to show read-only: ``homes`` get whole toolchain directories,
    ``scratch`` roots (``/tmp``) only the prefix around a ``bin``."""
    roots = [(Path(os.path.realpath(r)), True) for r in homes]
    roots += [(Path(os.path.realpath(r)), False) for r in scratch]
    found: set[Path] = set()
    for entry in path_dirs:
        if not entry or not os.path.isabs(entry):
            continue
        for candidate in _candidates(Path(entry)):
            shown = _toolchain_dir(candidate, roots)
            if shown is not None:
                found.add(shown)
    return tuple(sorted(found))


def _candidates(directory: Path) -> list[Path]:
    """The directory itself, and where its linked executables really are."""
    real = Path(os.path.realpath(directory))
    out = [real]
    try:
        with os.scandir(directory) as entries:
            for item in entries:
                if item.is_symlink():
                    out.append(Path(os.path.realpath(item.path)).parent)
    except OSError:
        pass
    return out


def _toolchain_dir(path: Path, roots: list[tuple[Path, bool]]) -> Path | None:
    for root, is_home in roots:
        if path == root or not path.is_relative_to(root):
            continue
        first = path.relative_to(root).parts[0]
        if first in PRIVATE:
            return path if path.is_dir() else None
        if not is_home:
            prefix = path.parent if path.name == "bin" else path
            return prefix if prefix.is_dir() and prefix != root else None
        top = root / first
        return top if top.is_dir() else None
    return None
