"""Time from typing `moat` to the prompt being ready, in a real pseudo-terminal.

Starts the real `moat` command 10 times in a fresh git repository, on a pty
(so it draws its full prompt), against the scripted fake model server, and
times each start until the prompt is on the screen; then presses Ctrl-D. The
agent's parts (audit log, sandbox check, model client) start in the background
after the prompt appears, so they are not counted; a real `moat -p` start and
a bare Python start are measured the same way as baselines.

Run: .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the repository root on sys.path)
from tests.fake_server import FakeModelServer, Reply

RUNS = 10
TARGET_MS = 300.0
MOAT = str(Path(sys.executable).parent / "moat")
PROMPT_MARK = "›".encode()


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "app.py").write_text("print('hello')\n")
    for args in (["init", "-q"], ["add", "."],
                 ["-c", "user.name=b", "-c", "user.email=b@localhost", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    return repo


def environment(root: Path, base_url: str) -> dict[str, str]:
    home = root / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home),
            "LANG": "C.UTF-8", "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40",
            "MOAT_BASE_URL": base_url, "MOAT_TOOL_PROTOCOL": "native",
            "MOAT_MANAGED_CONFIG": str(root / "none.toml"),
            "MOAT_CLAUDE_MANAGED_SETTINGS": str(root / "none.json")}


def time_to_prompt(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds until the prompt mark appears on the pty; then Ctrl-D and wait for the exit."""
    controller, terminal = pty.openpty()
    os.set_blocking(controller, False)
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=terminal, stdout=terminal,
                               stderr=terminal, start_new_session=True)
    os.close(terminal)
    seen = b""
    ready = None
    deadline = started + 60
    try:
        while ready is None and time.perf_counter() < deadline:
            readable, _, _ = select.select([controller], [], [], 0.05)
            if readable:
                try:
                    seen += os.read(controller, 65536)
                except OSError:
                    break
                if PROMPT_MARK in seen:
                    ready = time.perf_counter() - started
        if ready is None:
            raise RuntimeError(f"no prompt within 60s; the terminal showed: {seen[-500:]!r}")
        os.write(controller, b"\x04")
        _drain_until_exit(controller, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return ready


def _drain_until_exit(controller: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.perf_counter() + 30
    while process.poll() is None and time.perf_counter() < deadline:
        readable, _, _ = select.select([controller], [], [], 0.05)
        if readable:
            try:
                os.read(controller, 65536)
            except OSError:
                break
    process.wait(timeout=30)


def time_to_exit(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="moat-bench-startup-"))
    try:
        repo = make_repo(root)
        with FakeModelServer() as fake:
            fake.add(*[Reply(text="ok") for _ in range(RUNS)])
            env = environment(root, fake.url)
            time_to_prompt([MOAT], repo, env)  # warm the file cache; not counted
            starts = [time_to_prompt([MOAT], repo, env) for _ in range(RUNS)]
            python = [time_to_exit([sys.executable, "-c", "pass"], repo, env)
                      for _ in range(RUNS)]
            headless = [time_to_exit([MOAT, "-p", "hi"], repo, env) for _ in range(RUNS)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    median = statistics.median(starts) * 1000
    python_ms = statistics.median(python) * 1000
    headless_ms = statistics.median(headless) * 1000
    print(f"moat to a ready prompt: median {median:.0f} ms of {RUNS} "
          f"(min {min(starts) * 1000:.0f}, max {max(starts) * 1000:.0f})")
    print(f"baseline python -c pass: median {python_ms:.0f} ms "
          f"-> moat is {median / python_ms:.1f}x a bare interpreter")
    print(f"baseline moat -p (whole run, parts started first): median {headless_ms:.0f} ms "
          f"-> the prompt is ready at {median / headless_ms:.0%} of that")
    print(f"target: under {TARGET_MS:.0f} ms -> {median / TARGET_MS:.0%} of target")


if __name__ == "__main__":
    main()
