from __future__ import annotations

from pathlib import Path

import pytest

from moatcode.errors import SandboxUnavailable
from moatcode.sandbox.base import SandboxPolicy
from moatcode.sandbox.mounts import (
    HiddenPaths,
    MountPlan,
    hidden_paths,
    plan_mounts,
    refuse_unsafe_roots,
)

READ_ONLY = (Path(".git/hooks"), Path(".git/config"), Path(".moat"))


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """A small stand-in for / with the paths the hidden lists look for."""
    root = tmp_path / "hostfs"
    for d in ("root", "home", "run", "var", "etc/ssh"):
        (root / d).mkdir(parents=True)
    (root / "var" / "run").symlink_to("../run")
    (root / "etc" / "shadow").write_text("")
    (root / "etc" / "ssh" / "ssh_host_ed25519_key").write_text("")
    (root / "etc" / "ssh" / "ssh_host_ed25519_key.pub").write_text("")
    return root


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_typical_workspace(tmp_path: Path, home: Path, host_root: Path) -> None:
    ws = tmp_path / "ws"
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("")
    policy = SandboxPolicy(writable_roots=(ws,), read_only_paths=READ_ONLY)
    plan = plan_mounts(policy, home, tmpfs_size=1024, host_root=host_root)
    assert plan == MountPlan(
        args=(
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--size", "1024", "--tmpfs", "/tmp",
            "--size", "1024", "--tmpfs", "/root",
            "--size", "1024", "--tmpfs", "/home",
            "--size", "1024", "--tmpfs", "/run",
            "--size", "1024", "--tmpfs", str(home),
            "--ro-bind", "/dev/null", "/etc/shadow",
            "--ro-bind", "/dev/null", "/etc/ssh/ssh_host_ed25519_key",
            "--bind", str(ws), str(ws),
            # .moat is missing: an empty read-only placeholder keeps it from being made.
            "--tmpfs", f"{ws}/.moat", "--remount-ro", f"{ws}/.moat",
            # .git is pinned (bound onto itself) so it cannot be renamed away.
            "--bind", f"{ws}/.git", f"{ws}/.git",
            "--ro-bind", f"{ws}/.git/config", f"{ws}/.git/config",
            "--ro-bind", f"{ws}/.git/hooks", f"{ws}/.git/hooks",
        ),
        home=home,
        placeholders=(ws / ".moat",),
    )  # fmt: skip


def test_missing_git_gets_one_placeholder(tmp_path: Path, home: Path, host_root: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    policy = SandboxPolicy(writable_roots=(ws,), read_only_paths=READ_ONLY[:2])
    plan = plan_mounts(policy, home, host_root=host_root)
    assert plan.args[-6:] == (
        "--bind", str(ws), str(ws),
        "--tmpfs", f"{ws}/.git", "--remount-ro", f"{ws}/.git",
    )[-6:]  # fmt: skip
    assert plan.placeholders == (ws / ".git",)


def test_git_file_of_a_worktree_is_kept_read_only(
    tmp_path: Path, home: Path, host_root: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".git").write_text("gitdir: /elsewhere/.git/worktrees/ws\n")
    policy = SandboxPolicy(writable_roots=(ws,), read_only_paths=READ_ONLY[:2])
    plan = plan_mounts(policy, home, host_root=host_root)
    # Pointing .git at a directory of the command's own would bring its own hooks.
    assert plan.args[-3:] == ("--ro-bind", f"{ws}/.git", f"{ws}/.git")
    # The root, /etc/shadow, the SSH host key, and .git once for both paths under it.
    assert plan.args.count("--ro-bind") == 4
    assert plan.placeholders == ()


def test_symlinked_path_is_protected_where_it_points(
    tmp_path: Path, home: Path, host_root: Path
) -> None:
    ws = tmp_path / "ws"
    (ws / "real.git" / "hooks").mkdir(parents=True)
    (ws / ".git").symlink_to("real.git")
    policy = SandboxPolicy(writable_roots=(ws,), read_only_paths=(Path(".git/hooks"),))
    plan = plan_mounts(policy, home, host_root=host_root)
    assert plan.args[-6:] == (
        "--bind", f"{ws}/real.git", f"{ws}/real.git",
        "--ro-bind", f"{ws}/real.git/hooks", f"{ws}/real.git/hooks",
    )  # fmt: skip


def test_paths_outside_the_roots_and_nested_paths(
    tmp_path: Path, home: Path, host_root: Path
) -> None:
    ws = tmp_path / "ws"
    (ws / ".git" / "hooks").mkdir(parents=True)
    policy = SandboxPolicy(
        writable_roots=(ws,),
        # /etc is read-only anyway; .git/hooks is inside .git, which covers it.
        read_only_paths=(Path("/etc"), Path(".git"), Path(".git/hooks")),
        readable_paths=(home / ".cargo",),
    )
    plan = plan_mounts(
        policy, home, host_root=host_root, binds=[(tmp_path / "run", Path("/run/moat"))]
    )
    # Readable paths come before the writable roots, so they can never cover one.
    assert plan.args[-12:] == (
        "--ro-bind-try", f"{home}/.cargo", f"{home}/.cargo",
        "--bind", str(ws), str(ws),
        "--ro-bind", f"{ws}/.git", f"{ws}/.git",
        "--ro-bind", f"{tmp_path}/run", "/run/moat",
    )  # fmt: skip


def test_missing_home_falls_back_to_a_private_one(tmp_path: Path, host_root: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    plan = plan_mounts(SandboxPolicy(writable_roots=(ws,)), tmp_path / "gone", host_root=host_root)
    assert plan.home == Path("/tmp/home")
    assert plan.args[plan.args.index("--dir") :][:2] == ("--dir", "/tmp/home")


def test_hidden_paths(home: Path, host_root: Path) -> None:
    # /var/run links to /run here, so /run's tmpfs covers it.
    assert hidden_paths(home, host_root) == HiddenPaths(
        dirs=(Path("/root"), Path("/home"), Path("/run"), home),
        files=(Path("/etc/shadow"), Path("/etc/ssh/ssh_host_ed25519_key")),
    )


def test_refuses_roots_that_would_show_hidden_paths(home: Path, host_root: Path) -> None:
    hidden = hidden_paths(home, host_root)
    refuse_unsafe_roots([home / "project"], home, hidden)
    for root in (home, home.parent, Path("/"), Path("/run"), Path("/etc")):
        with pytest.raises(SandboxUnavailable, match=f"write to {root}, because it contains"):
            refuse_unsafe_roots([root], home, hidden)
