"""Undo snapshots: the workspace's files as git trees in a repository of Moat's own.

Before an action that can change files, ``SnapshotStore.take`` writes the
workspace's tracked and untracked-but-not-ignored files as one git tree (``git
add -A`` then ``git write-tree``). The trees live in a private bare repository
per session (``<root>/<session>.git``), never in the user's: every command runs
with ``--git-dir`` pointing there and the workspace as ``--work-tree``, so the
user's branches, index, stash, hooks and object store are only ever read. The
private repository borrows the user's objects through ``alternates`` and starts
from a copy of the user's index (for its stat cache), so a snapshot costs only
the files that changed since the last one.

``restore`` puts the files back as a tree had them with ``git read-tree --reset
-u``, which also deletes files created since and the directories they leave
empty. Ignored files (build output, ``.env`` when ignored) are neither saved
nor touched. Nor is an untracked file larger than ``max_file_bytes`` (a
dataset or model weights left out of ``.gitignore``): copying it into every
session's repository would cost a long pause and its size on disk. Once left
out it stays out for the session, so it is in no tree, and no undo deletes or
rewrites it; ``skipped`` lists such files, and ``/undo`` says so. Deleting
the session's directory (``prune_snapshots``) removes everything a session
stored.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from moatcode.errors import MoatError

GIT_TIMEOUT_S = 60.0
MAX_FILE_BYTES = 64 * 1024 * 1024  # untracked files above this are left out of snapshots
# Git settings for every command on the private repository: no automatic gc (it
# would drop trees no ref names), quick compression, no advice on stderr.
_GIT_CONFIG = ("gc.auto=0", "core.looseCompression=1", "advice.addEmbeddedRepo=false",
               "core.quotePath=false")
_STATUS = {"A": "restored", "D": "deleted", "M": "restored", "T": "restored"}


class SnapshotError(MoatError):
    """Taking or restoring a snapshot failed; undo is unavailable until it works again."""


@dataclass(frozen=True)
class Snapshot:
    """The workspace's files before one action: a tree id and what the action was."""

    tree: str
    label: str
    at: float


@dataclass(frozen=True)
class FileRestore:
    path: str
    # "restored": put back as it was (it had changed or been deleted);
    # "deleted": removed (it did not exist before).
    how: str


@dataclass(frozen=True)
class UndoResult:
    undone: tuple[Snapshot, ...]  # newest first
    files: tuple[FileRestore, ...]


class SnapshotStore:
    """The undo stack of one session in one workspace."""

    def __init__(self, workspace: Path, directory: Path,
                 clock: Callable[[], float] = time.time,
                 max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.workspace = workspace
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self._clock = clock
        self._stack: list[Snapshot] = []
        self._base: str | None = None
        self._skipped: set[str] = set()
        self._ready = False

    @property
    def skipped(self) -> tuple[str, ...]:
        """Untracked files left out of every snapshot for their size, never undone."""
        return tuple(sorted(self._skipped))

    # -- the stack -----------------------------------------------------------

    @property
    def snapshots(self) -> tuple[Snapshot, ...]:
        """The states before each action that changed something, oldest first."""
        return tuple(self._stack)

    def take(self, label: str) -> Snapshot:
        """Record the files as they are now, before the action ``label`` runs."""
        tree = self._write_tree()
        snapshot = Snapshot(tree, label, self._clock())
        if self._base is None:
            self._base = tree
        if self._stack and self._stack[-1].tree == tree:
            # The previous action changed nothing: its entry would undo nothing.
            self._stack[-1] = snapshot
        else:
            self._stack.append(snapshot)
        self._save()
        return snapshot

    def undo(self, steps: int = 1) -> UndoResult:
        """Put the files back as they were before the last ``steps`` actions that changed any."""
        if steps < 1:
            raise ValueError("steps must be at least 1")
        current = self._write_tree()
        while self._stack and self._stack[-1].tree == current:
            self._stack.pop()  # the last action changed nothing
        if not self._stack:
            return UndoResult((), ())
        steps = min(steps, len(self._stack))
        target = self._stack[-steps]
        undone = tuple(reversed(self._stack[-steps:]))
        files = self._restore(current, target.tree)
        del self._stack[-steps:]
        self._save()
        return UndoResult(undone, files)

    def diff(self) -> str:
        """A unified diff of every file changed since the first snapshot of the session."""
        if self._base is None:
            return ""
        current = self._write_tree()
        return self._git("diff-tree", "-p", "--no-renames", "--no-color", self._base, current)

    # -- git -----------------------------------------------------------------

    def _restore(self, current: str, target: str) -> tuple[FileRestore, ...]:
        listing = self._git("diff-tree", "-r", "--no-renames", "--name-status", "-z",
                            current, target)
        fields = listing.split("\0")
        files = [FileRestore(path, _STATUS.get(status[:1], "restored"))
                 for status, path in zip(fields[0::2], fields[1::2], strict=False) if path]
        self._git("read-tree", "--reset", "-u", current, target)
        return tuple(files)

    def _write_tree(self) -> str:
        self._prepare()
        try:
            self._add_all()
        except SnapshotError:
            # An index copied from the user's repository may carry extensions this
            # layout cannot use; start from an empty one instead (slower, once).
            (self.directory / "index").unlink(missing_ok=True)
            self._add_all()
        return self._git("write-tree").strip()

    def _add_all(self) -> None:
        """``git add -A``, less the untracked files over the size limit.

        A file newly found too big joins ``_skipped``, which the caller saves.
        """
        for path in self._git("ls-files", "-z", "-o", "--exclude-standard").split("\0"):
            if not path or path in self._skipped:
                continue
            try:
                size = (self.workspace / path).lstat().st_size
            except OSError:
                continue
            if size > self.max_file_bytes:
                self._skipped.add(path)
        self._git("add", "-A", "--ignore-errors", "--", ".",
                  *(f":(exclude,literal,top){p}" for p in sorted(self._skipped)))

    def _prepare(self) -> None:
        if self._ready:
            return
        user_git = _user_git_dirs(self.workspace)
        if not (self.directory / "HEAD").exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            _run(["git", "init", "-q", "--bare", str(self.directory)], self.workspace, "init")
            self._git("config", "core.bare", "false")
            if user_git is not None:
                git_dir, common = user_git
                info = self.directory / "objects" / "info"
                info.mkdir(parents=True, exist_ok=True)
                (info / "alternates").write_text(f"{common / 'objects'}\n", encoding="utf-8")
                if (git_dir / "index").is_file():
                    shutil.copyfile(git_dir / "index", self.directory / "index")
        if user_git is not None:
            exclude = user_git[1] / "info" / "exclude"
            if exclude.is_file():
                (self.directory / "info").mkdir(exist_ok=True)
                shutil.copyfile(exclude, self.directory / "info" / "exclude")
        self._load()
        self._ready = True

    def _git(self, *args: str) -> str:
        command = ["git"]
        for setting in _GIT_CONFIG:
            command += ["-c", setting]
        command += [f"--git-dir={self.directory}", f"--work-tree={self.workspace}", *args]
        return _run(command, self.workspace, args[0])

    # -- the stack on disk (so a resumed session can still undo) -------------

    def _save(self) -> None:
        data = {"base": self._base, "skipped": sorted(self._skipped),
                "stack": [[s.tree, s.label, s.at] for s in self._stack]}
        (self.directory / "moat-undo.json").write_text(json.dumps(data), encoding="utf-8")

    def _load(self) -> None:
        try:
            data = json.loads((self.directory / "moat-undo.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return
        self._base = data.get("base")
        self._skipped = {str(p) for p in data.get("skipped", [])}
        self._stack = [Snapshot(str(t), str(label), float(at)) for t, label, at in
                       data.get("stack", [])]


def _user_git_dirs(workspace: Path) -> tuple[Path, Path] | None:
    """The user's git dir and common dir (they differ in a linked worktree), if any."""
    try:
        out = _run(["git", "rev-parse", "--absolute-git-dir", "--git-common-dir"], workspace,
                   "rev-parse")
    except SnapshotError:
        return None
    lines = out.splitlines()
    if len(lines) < 2:
        return None
    git_dir = Path(lines[0])
    common = Path(lines[1])
    return git_dir, common if common.is_absolute() else (workspace / common).resolve()


def _run(command: Sequence[str], cwd: Path, what: str) -> str:
    try:
        done = subprocess.run(list(command), cwd=cwd, capture_output=True,
                              timeout=GIT_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise SnapshotError("git is not installed, so /undo cannot work; install git.") \
            from exc
    except subprocess.TimeoutExpired as exc:
        raise SnapshotError(f"Snapshotting the workspace took over {GIT_TIMEOUT_S:g}s; add "
                            "large generated folders to .gitignore so /undo can work.") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        why = detail[-1] if detail else f"exit code {done.returncode}"
        raise SnapshotError(f"git {what} failed for an undo snapshot ({why}); fix that for "
                            "/undo to work.")
    return done.stdout.decode("utf-8", errors="surrogateescape")


def snapshot_dir(root: Path, session_id: str) -> Path:
    return root / f"{session_id}.git"


def prune_snapshots(root: Path, keep: Iterable[str]) -> list[Path]:
    """Delete the snapshot repositories of sessions not in ``keep``; returns what went."""
    if not root.is_dir():
        return []
    wanted = {f"{session_id}.git" for session_id in keep}
    removed = []
    for path in root.iterdir():
        if path.suffix == ".git" and path.name not in wanted and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
