"""The file-system view of a sandboxed command, as bubblewrap mount arguments.

In order (bubblewrap applies them in order, later mounts cover earlier ones):

1. The whole host read-only (``--ro-bind / /``), a fresh ``/dev`` and ``/proc``.
2. Empty tmpfs over ``/tmp`` and over what holds credentials and sockets:
   the user's home, ``/root``, ``/home``, ``/run`` (docker, containerd, dbus
   and systemd sockets, the per-user runtime dir with ssh and gpg agents),
   ``/var/run`` when it is not a link to ``/run``, and ``/etc/ssl/private``.
3. Secret files masked with ``/dev/null``: ``/etc/shadow``, ``/etc/gshadow``
   (and their ``-`` backups), SSH host private keys. They matter when Moat
   runs as root: the command is then uid 0 without capabilities, and still
   owns every root-owned file.
4. The writable roots, bound read-write (after the tmpfs, so a workspace
   under the home directory or /tmp still appears).
5. The read-only paths inside them. A command could otherwise replace a
   protected path by renaming one of its parents (``mv .git x``, copy back
   with new hooks), so each directory between the root and the path is bound
   onto itself: a mount point cannot be renamed or removed. A path that does
   not exist gets a read-only empty placeholder where its first missing part
   is, so it cannot be created either (``.git`` missing: no ``git init``);
   the placeholder is made on the host for the run and removed after it.
   A path reached through a symlink is protected at its real location; the
   link itself stays writable.
6. ``readable_paths`` bound back read-only, then the caller's extra binds.

Writable roots are bound at their real path (resolve symlinks; ``os.getcwd()``
already gives it). A writable root that is, or contains, a hidden path (the
home directory, ``/``, ``/run``...) is refused: binding it would show what the
tmpfs hides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moatcode.errors import SandboxUnavailable
from moatcode.sandbox.base import SandboxPolicy

HIDDEN_DIRS = (
    Path("/root"),
    Path("/home"),
    Path("/run"),
    Path("/var/run"),
    Path("/etc/ssl/private"),
)
MASKED_FILES = (
    Path("/etc/shadow"),
    Path("/etc/shadow-"),
    Path("/etc/gshadow"),
    Path("/etc/gshadow-"),
)
SANDBOX_TMP = Path("/tmp")
# When the home directory does not exist on the host, commands get this one.
FALLBACK_HOME = Path("/tmp/home")


@dataclass(frozen=True)
class MountPlan:
    args: tuple[str, ...]
    home: Path  # HOME inside the sandbox
    # Made empty on the host before the run (bwrap needs a mount point), removed after.
    placeholders: tuple[Path, ...] = ()


def plan_mounts(
    policy: SandboxPolicy,
    home: Path,
    *,
    tmpfs_size: int | None = None,
    readable: Sequence[Path] = (),
    binds: Sequence[tuple[Path, Path]] = (),
    host_root: Path = Path("/"),
) -> MountPlan:
    """The mount arguments for ``policy``, looking at the host as it is now.

    ``readable`` is added to ``policy.readable_paths``; ``binds`` are extra
    read-only (source, destination) binds applied last. ``host_root`` exists
    for tests of the hidden-path lists.
    """
    roots = writable_roots(policy)
    hidden = hidden_paths(home, host_root)
    refuse_unsafe_roots(roots, home, hidden)
    size = ["--size", str(tmpfs_size)] if tmpfs_size is not None else []

    args: list[str] = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += [*size, "--tmpfs", str(SANDBOX_TMP)]
    for path in hidden.dirs:
        args += [*size, "--tmpfs", str(path)]
    sandbox_home = home if home.is_dir() else FALLBACK_HOME
    if sandbox_home == FALLBACK_HOME:
        args += ["--dir", str(FALLBACK_HOME)]
    for path in hidden.files:
        args += ["--ro-bind", "/dev/null", str(path)]
    # Readable paths (toolchains under a hidden directory) go before the writable roots,
    # so a toolchain that contains the workspace cannot make it read-only.
    for path in (*policy.readable_paths, *readable):
        args += ["--ro-bind-try", str(path), str(path)]
    for root in roots:
        args += ["--bind", str(root), str(root)]

    placeholders: list[Path] = []
    pinned: set[Path] = set(roots)
    for path in _read_only_targets(policy, roots):
        root = max((r for r in roots if path.is_relative_to(r)), key=lambda r: len(r.parts))
        protect_args, placeholder = _protect(root, path, pinned)
        args += protect_args
        if placeholder is not None and placeholder not in placeholders:
            placeholders.append(placeholder)

    for source, dest in binds:
        args += ["--ro-bind", str(source), str(dest)]
    return MountPlan(tuple(args), sandbox_home, tuple(placeholders))


def writable_roots(policy: SandboxPolicy) -> tuple[Path, ...]:
    """The roots at their real paths, outermost first, without duplicates."""
    resolved = {root.resolve() for root in policy.writable_roots}
    return tuple(sorted(resolved, key=lambda p: (len(p.parts), str(p))))


@dataclass(frozen=True)
class HiddenPaths:
    dirs: tuple[Path, ...]  # each gets an empty tmpfs
    files: tuple[Path, ...]  # each gets /dev/null


def hidden_paths(home: Path, host_root: Path = Path("/")) -> HiddenPaths:
    """What exists here of the hidden lists, plus the home directory."""
    dirs: list[Path] = []
    for path in HIDDEN_DIRS:
        host = host_root / path.relative_to("/")
        # A link (/var/run -> /run) is covered by its target's tmpfs.
        if host.is_dir() and not host.is_symlink():
            dirs.append(path)
    if home.is_dir() and home.resolve() not in dirs:
        dirs.append(home.resolve())
    files = [p for p in MASKED_FILES if (host_root / p.relative_to("/")).is_file()]
    ssh = host_root / "etc/ssh"
    if ssh.is_dir():
        keys = sorted(ssh.glob("ssh_host_*_key"))
        files += [Path("/etc/ssh") / key.name for key in keys if key.is_file()]
    return HiddenPaths(tuple(dirs), tuple(files))


def refuse_unsafe_roots(roots: Sequence[Path], home: Path, hidden: HiddenPaths) -> None:
    """Raise if a writable root would show a hidden path again."""
    for root in roots:
        covered = [Path("/"), home.resolve(), *hidden.dirs, *hidden.files]
        for path in covered:
            if path == root or path.is_relative_to(root):
                raise SandboxUnavailable(
                    f"Moat will not let commands write to {root}, because it contains "
                    f"{path}, which the sandbox hides; start Moat in a project directory instead."
                )


def _read_only_targets(policy: SandboxPolicy, roots: Sequence[Path]) -> list[Path]:
    targets: list[Path] = []
    for given in policy.read_only_paths:
        candidates = [given] if given.is_absolute() else [root / given for root in roots]
        for path in candidates:
            # Protect the real location: a link's target is what a hook runner would read.
            real = path.resolve()
            if any(real.is_relative_to(r) for r in roots) and real not in targets:
                targets.append(real)
    # A path inside another read-only path is covered by it; pinning its parents
    # read-write would even undo that.
    kept = [t for t in targets if not any(t != o and t.is_relative_to(o) for o in targets)]
    return sorted(kept, key=lambda p: (len(p.parts), str(p)))


def _protect(root: Path, path: Path, pinned: set[Path]) -> tuple[list[str], Path | None]:
    """Mounts that keep ``path`` (inside writable ``root``) read-only and in place.

    ``pinned`` holds the directories already bound onto themselves and the
    placeholders already planned, so two paths below one parent share them.
    """
    args: list[str] = []
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current == path:
            break
        if current in pinned and not current.is_dir():
            return args, None  # already a placeholder or a read-only file
        if not current.exists():
            pinned.add(current)
            return [*args, *_placeholder_args(current)], current
        if not current.is_dir():
            # A file cannot have children: keeping it read-only keeps the path absent.
            pinned.add(current)
            return [*args, "--ro-bind", str(current), str(current)], None
        if current not in pinned:
            pinned.add(current)
            args += ["--bind", str(current), str(current)]
    if not path.exists():
        return [*args, *_placeholder_args(path)], path
    return [*args, "--ro-bind", str(path), str(path)], None


def _placeholder_args(path: Path) -> list[str]:
    return ["--tmpfs", str(path), "--remount-ro", str(path)]
