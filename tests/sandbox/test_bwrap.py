"""Each guarantee of BwrapSandbox, checked with the real bubblewrap."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from moatcode.errors import SandboxUnavailable
from moatcode.sandbox.base import ExecResult, SandboxPolicy
from moatcode.sandbox.bwrap import BwrapSandbox
from moatcode.sandbox.limits import ResourceLimits, create_cgroup

from .conftest import CREDENTIALS, PATH_ENV, MakeSandbox, processes_with

PY = sys.executable


def sh(sandbox: BwrapSandbox, script: str, cwd: Path, timeout: float = 20) -> ExecResult:
    return sandbox.run(["sh", "-c", script], cwd, timeout, PATH_ENV)


# --- file system -------------------------------------------------------------------------


def test_root_file_system_is_read_only(make_sandbox: MakeSandbox, workspace: Path) -> None:
    result = sh(make_sandbox(), "touch /usr/moat-probe; touch /etc/moat-probe; echo end", workspace)
    assert result.output == (
        b"touch: cannot touch '/usr/moat-probe': Read-only file system\n"
        b"touch: cannot touch '/etc/moat-probe': Read-only file system\n"
        b"end\n"
    )
    assert not Path("/usr/moat-probe").exists()


def test_workspace_is_writable(make_sandbox: MakeSandbox, workspace: Path) -> None:
    result = sh(make_sandbox(), "echo made > new.txt && cat README.md", workspace)
    assert (result.exit_code, result.output) == (0, b"hello\n")
    assert (workspace / "new.txt").read_text() == "made\n"


def test_tmp_is_private_and_empty(make_sandbox: MakeSandbox, workspace: Path,
                                  python_paths: tuple[Path, ...]) -> None:
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="moat-host-") as host_file:
        result = sh(
            make_sandbox(),
            f"test -e {host_file.name} && echo visible; echo x > /tmp/inside; ls -A /tmp",
            workspace,
        )
    # /tmp holds only what the sandbox itself made: the workspace's mount path (tmp_path
    # lies in /tmp), this Python's when it lies in /tmp (a checkout there), and our file.
    listing = set(result.output.decode().split())
    mounted = {p.parts[2] for p in (workspace, *python_paths) if p.parts[1:2] == ("tmp",)}
    assert listing == {"inside", *mounted}
    assert not Path("/tmp/inside").exists()


def test_read_only_paths_stay_read_only(make_sandbox: MakeSandbox, workspace: Path) -> None:
    result = sh(
        make_sandbox(),
        "echo evil > .git/hooks/pre-commit; echo '[core]' >> .git/config; "
        "mkdir -p .moat && echo x > .moat/config.toml; echo end",
        workspace,
    )
    assert result.output == (
        b"sh: 1: cannot create .git/hooks/pre-commit: Read-only file system\n"
        b"sh: 1: cannot create .git/config: Read-only file system\n"
        b"sh: 1: cannot create .moat/config.toml: Read-only file system\n"
        b"end\n"
    )
    assert sorted(p.name for p in (workspace / ".git" / "hooks").iterdir()) == ["pre-commit.sample"]
    assert (workspace / ".git" / "config").read_text() == "[core]\n\tbare = false\n"
    # The placeholder that kept .moat from being created is gone again.
    assert not (workspace / ".moat").exists()


def test_a_protected_path_cannot_be_swapped_by_renaming_its_parent(
    make_sandbox: MakeSandbox, workspace: Path
) -> None:
    result = sh(
        make_sandbox(),
        "mv .git .git-old; rm -rf .git/hooks; mv .git/hooks .git/h2; "
        "echo x > .git/c2; mv .git/c2 .git/config; echo end",
        workspace,
    )
    assert result.output.endswith(b"end\n")
    assert b"Device or resource busy" in result.output
    assert (workspace / ".git" / "hooks" / "pre-commit.sample").exists()
    assert (workspace / ".git" / "config").read_text() == "[core]\n\tbare = false\n"
    assert not (workspace / ".git-old").exists()


def test_a_workspace_without_git_cannot_grow_hooks(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = sh(
        make_sandbox(writable_roots=(plain,)),
        "mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit; touch ok",
        plain,
    )
    assert b"Read-only file system" in result.output
    assert sorted(p.name for p in plain.iterdir()) == ["ok"]


def test_git_works_inside(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=PATH_ENV)
    sandbox = make_sandbox(writable_roots=(repo,))
    result = sh(
        sandbox,
        "echo a > a.txt && git add a.txt && git -c user.name=t -c user.email=t@t "
        "commit -qm first && git log --format=%s",
        repo,
    )
    assert (result.exit_code, result.output) == (0, b"first\n")


# --- home and hidden host paths --------------------------------------------------------


def test_home_is_empty_and_credentials_are_gone(
    make_sandbox: MakeSandbox, workspace: Path, home: Path
) -> None:
    names = " ".join(f"~/{name}" for name in CREDENTIALS)
    result = sh(make_sandbox(), f'echo "$HOME"; ls -A ~; cat {names} 2>&1 | wc -l', workspace)
    assert result.output == f"{home}\n{len(CREDENTIALS)}\n".encode()


def test_workspace_under_home_stays_writable(make_sandbox: MakeSandbox, home: Path) -> None:
    project = home / "src" / "project"
    project.mkdir(parents=True)
    result = sh(
        make_sandbox(writable_roots=(project,)),
        "echo made > out.txt; find ~ -type f | sort; cat ~/.ssh/id_ed25519",
        project,
    )
    assert result.output == (
        f"{project}/out.txt\ncat: {home}/.ssh/id_ed25519: No such file or directory\n".encode()
    )
    assert (project / "out.txt").read_text() == "made\n"


@pytest.mark.parametrize("relation", ["home itself", "a parent of home", "root"])
def test_refuses_a_writable_root_that_contains_home(
    need_bwrap: None, home: Path, relation: str
) -> None:
    root = {"home itself": home, "a parent of home": home.parent, "root": Path("/")}[relation]
    with pytest.raises(SandboxUnavailable, match="will not let commands write to"):
        BwrapSandbox(SandboxPolicy(writable_roots=(root,)), home=home)


def test_sensitive_host_paths_are_hidden(make_sandbox: MakeSandbox, workspace: Path) -> None:
    hidden = [d for d in ("/home", "/root", "/run") if Path(d).is_dir()]
    # Without readable_paths, which would show this interpreter's directory under /root.
    result = sh(
        make_sandbox(readable_paths=()),
        f"ls -A {' '.join(hidden)}; cat /etc/shadow",
        workspace,
    )
    listing = "".join(f"{d}:\n\n" for d in hidden)[:-1]
    # A mask is /dev/null on a nodev mount: it cannot even be opened.
    assert result.output == f"{listing}cat: /etc/shadow: Permission denied\n".encode()


# --- processes ----------------------------------------------------------------------------


def test_no_capabilities_and_a_new_session(make_sandbox: MakeSandbox, workspace: Path) -> None:
    script = (
        "import os; status = open('/proc/self/status').read().split('\\n'); "
        "print([l.split()[1] for l in status if l.startswith('CapEff')][0]); "
        "print(os.getsid(0)); "
        "print(len([p for p in os.listdir('/proc') if p.isdigit()])); "
        "open('/dev/tty')"
    )
    result = make_sandbox().run([PY, "-u", "-c", script], workspace, 20, PATH_ENV)
    # No capabilities; a session of the sandbox's own init (PID 1), with no controlling
    # terminal to push input into; a PID namespace holding just that init and this process.
    assert result.output.startswith(b"0000000000000000\n1\n2\n")
    assert result.output.endswith(b"OSError: [Errno 6] No such device or address: '/dev/tty'\n")


def test_environment_is_exactly_the_one_given(
    make_sandbox: MakeSandbox, workspace: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOAT_TEST_CANARY", "must-not-leak")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/ssh-agent.sock")
    result = make_sandbox().run(["/usr/bin/env"], workspace, 20, {"ONLY": "this"})
    assert sorted(result.output.decode().splitlines()) == sorted(
        ["ONLY=this", f"HOME={home}", "TMPDIR=/tmp", f"PWD={workspace}"]
    )


def test_exit_codes_pass_through(make_sandbox: MakeSandbox, workspace: Path) -> None:
    sandbox = make_sandbox()
    assert sh(sandbox, "exit 7", workspace).exit_code == 7
    assert sh(sandbox, "kill -TERM $$", workspace).exit_code == 128 + signal.SIGTERM


def test_output_is_interleaved_and_capped(make_sandbox: MakeSandbox, workspace: Path) -> None:
    sandbox = make_sandbox()
    mixed = sh(sandbox, "echo a; echo b >&2; echo c", workspace)
    assert mixed.output == b"a\nb\nc\n"
    flood = sandbox.run(
        ["head", "-c", "50000000", "/dev/zero"], workspace, 30, PATH_ENV, max_output=1000
    )
    assert (flood.output, flood.output_truncated, flood.extra["output_bytes"]) == (
        b"\0" * 1000,
        True,
        "50000000",
    )


def test_background_processes_do_not_survive(make_sandbox: MakeSandbox, workspace: Path) -> None:
    started = time.monotonic()
    result = sh(
        make_sandbox(),
        "sleep 104.25 & nohup sleep 104.5 >/dev/null 2>&1 & "
        "setsid sh -c 'sleep 104.75 & echo daemon' ; echo started",
        workspace,
    )
    assert result.output == b"daemon\nstarted\n"
    assert time.monotonic() - started < 5
    for marker in ("104.25", "104.5", "104.75"):
        assert processes_with(f"sleep {marker}") == []


def test_timeout_kills_everything(make_sandbox: MakeSandbox, workspace: Path) -> None:
    result = sh(
        make_sandbox(),
        "echo begin; setsid sleep 105.25 & sleep 105.5 & sleep 105.75",
        workspace,
        timeout=1,
    )
    assert (result.timed_out, result.exit_code, result.output) == (True, 137, b"begin\n")
    assert result.duration_s < 5
    for marker in ("105.25", "105.5", "105.75"):
        assert processes_with(f"sleep {marker}") == []


def test_ctrl_c_kills_the_sandbox_and_reraises(make_sandbox: MakeSandbox, workspace: Path) -> None:
    sandbox = make_sandbox()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sh(sandbox, "sleep 106.25 & sleep 106.5", workspace, timeout=30)
    finally:
        timer.cancel()
    # bwrap's own command line holds the script, so this finds a leftover bwrap too.
    assert processes_with("sleep 106.") == []


def test_sandbox_dies_with_moat(
    need_bwrap: None, workspace: Path, home: Path, python_paths: tuple[Path, ...]
) -> None:
    # A Moat process killed outright (no cleanup runs) must not leave its command running.
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "from moatcode.sandbox.base import SandboxPolicy\n"
        "from moatcode.sandbox.bwrap import BwrapSandbox\n"
        f"policy = SandboxPolicy(writable_roots=(Path({str(workspace)!r}),))\n"
        f"sandbox = BwrapSandbox(policy, home=Path({str(home)!r}))\n"
        "sandbox.run(['sh', '-c', 'echo up > ready; sleep 112.5 & sleep 112.75'], "
        f"Path({str(workspace)!r}), 60, {PATH_ENV!r})\n"
    )
    moat = subprocess.Popen([sys.executable, "-c", program])
    try:
        deadline = time.monotonic() + 20
        while not (workspace / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_with("sleep 112.75") != []
    finally:
        moat.kill()
        moat.wait()
    deadline = time.monotonic() + 5
    while processes_with("sleep 112.") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes_with("sleep 112.") == []
    # Its cgroup stays behind, empty, until the next run sweeps it.
    probe = create_cgroup(ResourceLimits(16, 1 << 30, 10))
    if probe is not None:
        probe.remove()
    assert list(Path("/sys/fs/cgroup").rglob(f"moat-{moat.pid}-*")) == []


# --- limits -------------------------------------------------------------------------------


def _cgroup_enforces(controller: str) -> bool:
    cgroup = create_cgroup(ResourceLimits(16, 1 << 30, 10))
    if cgroup is None:
        return False
    cgroup.remove()
    return controller in cgroup.enforced


def test_fork_bomb_ends_in_an_error(make_sandbox: MakeSandbox, workspace: Path) -> None:
    # Only run a real fork bomb where something bounds it: a pids cgroup, or RLIMIT_NPROC
    # (which root ignores). Then a low limit and a short timeout keep the machine safe.
    if not _cgroup_enforces("pids") and os.geteuid() == 0:
        pytest.skip("no pids cgroup here and RLIMIT_NPROC does not bind root")
    started = time.monotonic()
    result = sh(
        make_sandbox(max_processes=32), "f0rk() { f0rk | f0rk & }; f0rk; sleep 2", workspace, 5
    )
    assert b"Cannot fork" in result.output or b"Resource temporarily unavailable" in result.output
    assert time.monotonic() - started < 10
    if _cgroup_enforces("pids"):
        assert "pids" in result.extra["limit_hit"].split(",")
    assert processes_with("f0rk") == []


def test_process_limit(make_sandbox: MakeSandbox, workspace: Path) -> None:
    if not _cgroup_enforces("pids") and os.geteuid() == 0:
        pytest.skip("no pids cgroup here and RLIMIT_NPROC does not bind root")
    result = sh(
        make_sandbox(max_processes=16),
        "for i in $(seq 40); do sleep 107 & done; echo spawned",
        workspace,
    )
    assert (result.exit_code, result.output) == (2, b"sh: 0: Cannot fork\n")


def test_memory_hog_is_stopped(make_sandbox: MakeSandbox, workspace: Path) -> None:
    result = make_sandbox(max_memory_bytes=128 << 20).run(
        [PY, "-c", "x = b'x' * (1 << 30); print('survived')"], workspace, 30, PATH_ENV
    )
    assert b"survived" not in result.output
    if _cgroup_enforces("memory"):
        # The kernel's OOM killer inside the run's cgroup.
        assert (result.exit_code, result.extra["limit_hit"]) == (137, "memory")
    else:
        assert result.exit_code == 1
        assert b"MemoryError" in result.output


def test_limits_are_reported_and_cgroups_cleaned_up(
    make_sandbox: MakeSandbox, workspace: Path
) -> None:
    result = sh(make_sandbox(), "true", workspace)
    probe = create_cgroup(ResourceLimits(16, 1 << 30, 10))
    rlimits = ["core", "cpu"]
    if probe is None or "memory" not in probe.enforced:
        rlimits.append("as")
    if (probe is None or "pids" not in probe.enforced) and os.geteuid() != 0:
        rlimits.append("nproc")
    cgroup = f"{probe.description} " if probe is not None else ""
    if probe is not None:
        probe.remove()
    assert result.extra == {
        "output_bytes": "0",
        "limits": f"{cgroup}rlimit:{','.join(sorted(rlimits))}",
        "network": "none",
    }
    assert list(Path("/sys/fs/cgroup").rglob(f"moat-{os.getpid()}-*")) == []


# --- network ------------------------------------------------------------------------------


def test_no_network_at_all(make_sandbox: MakeSandbox, workspace: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        script = (
            "import socket\n"
            "print([l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]])\n"
            "print(len(open('/proc/net/route').readlines()[1:]), 'routes')\n"
            "for host in ('127.0.0.1', 'localhost', '::1'):\n"
            "    try:\n"
            f"        socket.create_connection((host, {port}), timeout=2)\n"
            "        print(host, 'reached')\n"
            "    except OSError as exc:\n"
            "        print(host, type(exc).__name__)\n"
        )
        result = make_sandbox().run([PY, "-c", script], workspace, 20, PATH_ENV)
    # Only the sandbox's own loopback, no route anywhere; the server listening on the
    # host's 127.0.0.1 is not there.
    assert result.output == (
        b"['lo']\n"
        b"0 routes\n"
        b"127.0.0.1 ConnectionRefusedError\n"
        b"localhost ConnectionRefusedError\n"
        b"::1 ConnectionRefusedError\n"
    )


def test_curl_cannot_reach_the_host(make_sandbox: MakeSandbox, workspace: Path) -> None:
    curl = "/usr/bin/curl"
    if not Path(curl).exists():
        pytest.skip("curl is not installed (apt-get install curl)")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = make_sandbox().run(
            [curl, "-sS", "--max-time", "5", f"http://127.0.0.1:{port}/"], workspace, 20, PATH_ENV
        )
    assert result.exit_code == 7  # couldn't connect
    assert result.output.startswith(b"curl: (7) Failed to connect to 127.0.0.1 port")


def test_timed_out_result_is_complete(make_sandbox: MakeSandbox, workspace: Path) -> None:
    result = sh(make_sandbox(), "echo partial; sleep 108", workspace, timeout=0.5)
    assert dataclasses.replace(result, duration_s=0.0, extra={}) == ExecResult(
        exit_code=137, output=b"partial\n", timed_out=True
    )
