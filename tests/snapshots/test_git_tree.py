"""Undo snapshots against a real git repository: what is saved, restored, and left alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from moatcode.snapshots.git_tree import (
    FileRestore,
    Snapshot,
    SnapshotStore,
    UndoResult,
    prune_snapshots,
    snapshot_dir,
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


def git_state(repo: Path) -> tuple[str, ...]:
    return (git(repo, "show-ref"), git(repo, "stash", "list"), git(repo, "count-objects", "-v"),
            git(repo, "ls-files", "--stage"), git(repo, "status", "--porcelain"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "app.py").write_text("print('v1')\n")
    (repo / "README.md").write_text("readme\n")
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "init")
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored v1\n")
    return repo


def store_for(repo: Path, tmp_path: Path, session: str = "s1") -> SnapshotStore:
    return SnapshotStore(repo, snapshot_dir(tmp_path / "snaps", session), clock=lambda: 5.0)


def test_undo_restores_edits_deletions_and_new_files_and_nothing_else(
        repo: Path, tmp_path: Path) -> None:
    before = git_state(repo)
    store = store_for(repo, tmp_path)
    taken = store.take("Bash make a mess")
    (repo / "src" / "app.py").write_text("print('v2')\n")
    (repo / "README.md").unlink()
    (repo / "notes.txt").unlink()
    (repo / "gen" / "deep").mkdir(parents=True)
    (repo / "gen" / "deep" / "new.txt").write_text("new\n")
    (repo / "debug.log").write_text("ignored v2\n")

    result = store.undo()

    assert result == UndoResult(
        undone=(taken,),
        files=(FileRestore("README.md", "restored"), FileRestore("gen/deep/new.txt", "deleted"),
               FileRestore("notes.txt", "restored"), FileRestore("src/app.py", "restored")))
    assert (repo / "src" / "app.py").read_text() == "print('v1')\n"
    assert (repo / "README.md").read_text() == "readme\n"
    assert (repo / "notes.txt").read_text() == "untracked\n"
    assert not (repo / "gen").exists()
    assert (repo / "debug.log").read_text() == "ignored v2\n"  # ignored: not saved, not touched
    assert git_state(repo) == before
    assert store.snapshots == ()
    assert taken == Snapshot(taken.tree, "Bash make a mess", 5.0) and len(taken.tree) == 40


def test_undo_n_steps_and_steps_that_changed_nothing(repo: Path, tmp_path: Path) -> None:
    store = store_for(repo, tmp_path)
    app = repo / "src" / "app.py"
    store.take("step 1")
    app.write_text("v2\n")
    store.take("step 2 (changes nothing)")
    store.take("step 3")
    app.write_text("v3\n")
    store.take("step 4")
    app.write_text("v4\n")
    assert [s.label for s in store.snapshots] == ["step 1", "step 3", "step 4"]

    assert [s.label for s in store.undo(2).undone] == ["step 4", "step 3"]
    assert app.read_text() == "v2\n"
    assert [s.label for s in store.undo(5).undone] == ["step 1"]
    assert app.read_text() == "print('v1')\n"
    assert store.undo() == UndoResult((), ())


def test_the_last_step_that_changed_nothing_is_skipped(repo: Path, tmp_path: Path) -> None:
    store = store_for(repo, tmp_path)
    store.take("edit")
    (repo / "src" / "app.py").write_text("v2\n")
    store.take("a read-only command")
    result = store.undo()
    assert [s.label for s in result.undone] == ["edit"]
    assert (repo / "src" / "app.py").read_text() == "print('v1')\n"


def test_diff_shows_every_change_of_the_session(repo: Path, tmp_path: Path) -> None:
    store = store_for(repo, tmp_path)
    assert store.diff() == ""
    store.take("edit")
    (repo / "src" / "app.py").write_text("print('v2')\n")
    (repo / "notes.txt").unlink()
    diff = store.diff()
    assert "diff --git a/notes.txt b/notes.txt\ndeleted file mode 100644" in diff
    assert "-print('v1')\n+print('v2')\n" in diff


def test_the_stack_survives_a_new_store_on_the_same_directory(repo: Path,
                                                              tmp_path: Path) -> None:
    store_for(repo, tmp_path).take("edit")
    (repo / "README.md").write_text("changed\n")
    resumed = store_for(repo, tmp_path)
    assert [s.label for s in resumed.undo().undone] == ["edit"]
    assert (repo / "README.md").read_text() == "readme\n"


def test_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a\n")
    store = store_for(work, tmp_path)
    store.take("write")
    (work / "a.txt").write_text("b\n")
    (work / "b.txt").write_text("new\n")
    assert store.undo().files == (FileRestore("a.txt", "restored"),
                                  FileRestore("b.txt", "deleted"))
    assert (work / "a.txt").read_text() == "a\n" and not (work / "b.txt").exists()
    assert not (work / ".git").exists()


def test_prune_keeps_only_the_named_sessions(repo: Path, tmp_path: Path) -> None:
    for session in ("old", "kept"):
        store_for(repo, tmp_path, session).take("x")
    root = tmp_path / "snaps"
    assert prune_snapshots(root, ["kept"]) == [root / "old.git"]
    assert sorted(p.name for p in root.iterdir()) == ["kept.git"]
    assert prune_snapshots(tmp_path / "missing", []) == []


@pytest.mark.parametrize("in_git", [True, False])
def test_a_large_untracked_file_is_left_out_and_never_touched_by_undo(
    repo: Path, tmp_path: Path, in_git: bool
) -> None:
    workspace = repo
    if not in_git:
        workspace = tmp_path / "plain"
        workspace.mkdir()
        (workspace / "notes.txt").write_text("untracked\n")
    data = workspace / "data" / "weights.bin"
    data.parent.mkdir()
    data.write_bytes(b"w" * 5000)
    (workspace / "data" / "small.txt").write_text("small v1\n")
    store = SnapshotStore(workspace, snapshot_dir(tmp_path / "snaps", "big"), clock=lambda: 5.0,
                          max_file_bytes=4096)
    store.take("step 1")
    assert store.skipped == ("data/weights.bin",)
    # The step rewrites both, deletes notes.txt; the big file shrinks below the limit.
    data.write_bytes(b"v2")
    (workspace / "data" / "small.txt").write_text("small v2\n")
    (workspace / "notes.txt").unlink()
    store.take("step 2")
    (workspace / "data" / "small.txt").write_text("small v3\n")
    result = store.undo(2)
    assert (workspace / "data" / "small.txt").read_text() == "small v1\n"
    assert (workspace / "notes.txt").read_text() == "untracked\n"
    assert data.read_bytes() == b"v2"  # left exactly as it is: undo never had it
    assert "data/weights.bin" not in {f.path for f in result.files}
    # Stays out for the session, also for a new store on the same directory.
    again = SnapshotStore(workspace, snapshot_dir(tmp_path / "snaps", "big"),
                          max_file_bytes=4096)
    tree = again.take("step 3").tree
    assert again.skipped == ("data/weights.bin",)
    listing = subprocess.run(["git", f"--git-dir={again.directory}", "ls-tree", "-r",
                              "--name-only", tree], capture_output=True, text=True,
                             check=True).stdout.split()
    assert "data/small.txt" in listing and "data/weights.bin" not in listing
