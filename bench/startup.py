"""Time from typing `moat` to the prompt being ready, in a real pseudo-terminal.

Starts the real `moat` command 10 times in a fresh git repository, on a pty
(so it draws its full prompt; the script answers the cursor-position queries
a terminal would), against the scripted fake model server, and times each
start until the prompt is on the screen; then presses Ctrl-D. The settings,
the front-end and the agent's parts (audit log, sandbox check, model client)
load in the background after the prompt appears, so they are not counted;
the time until the status line shows the session ready is, separately.
Baselines, started in turn with the same terminal: `moat --mode default`
(through the command-line parser), a bare prompt_toolkit prompt like Moat's
(the floor for any prompt_toolkit program), a whole `moat -p` run, and
`python -c pass`.

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
READY_MARK = b"default mode"  # the status line, once the session has started
CURSOR_QUERY = b"\x1b[6n"
# The same kind of prompt as Moat's, with nothing else: what prompt_toolkit alone costs.
BARE_PROMPT = """
from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
session = PromptSession(message=FormattedText([("bold", "› ")]), multiline=True,
                        bottom_toolbar=lambda: " starting", placeholder="Ask",
                        reserve_space_for_menu=4)
try:
    session.prompt()
except EOFError:
    pass
"""


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


def time_to_prompt(argv: list[str], cwd: Path, env: dict[str, str],
                   mark: bytes = PROMPT_MARK) -> float:
    """Seconds until ``mark`` appears on the pty; then Ctrl-D and wait for the exit."""
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
                    chunk = os.read(controller, 65536)
                except OSError:
                    break
                queries = (seen[-3:] + chunk).count(CURSOR_QUERY)
                os.write(controller, b"\x1b[1;1R" * queries)  # as a terminal answers
                seen += chunk
                if mark in seen:
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
    series: dict[str, list[float]] = {
        "moat": [], "ready": [], "flags": [], "floor": [], "headless": [], "python": []}
    try:
        repo = make_repo(root)
        with FakeModelServer() as fake:
            fake.add(*[Reply(text="ok") for _ in range(RUNS)])
            env = environment(root, fake.url)
            time_to_prompt([MOAT], repo, env)  # warm the file cache; not counted
            for _ in range(RUNS):  # in turn, so that a busy moment hits every series
                series["moat"].append(time_to_prompt([MOAT], repo, env))
                series["ready"].append(time_to_prompt([MOAT], repo, env, READY_MARK))
                series["flags"].append(time_to_prompt([MOAT, "--mode", "default"], repo, env))
                series["floor"].append(time_to_prompt([sys.executable, "-c", BARE_PROMPT],
                                                      repo, env))
                series["headless"].append(time_to_exit([MOAT, "-p", "hi"], repo, env))
                series["python"].append(time_to_exit([sys.executable, "-c", "pass"], repo, env))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ms = {name: statistics.median(times) * 1000 for name, times in series.items()}
    starts = series["moat"]
    print(f"moat to a ready prompt: median {ms['moat']:.0f} ms of {RUNS} "
          f"(min {min(starts) * 1000:.0f}, max {max(starts) * 1000:.0f})")
    print(f"floor: a bare prompt_toolkit prompt: median {ms['floor']:.0f} ms "
          f"-> moat adds {ms['moat'] - ms['floor']:.0f} ms ({ms['moat'] / ms['floor']:.2f}x)")
    print(f"moat --mode default (through the command-line parser): median {ms['flags']:.0f} ms "
          f"({ms['flags'] / ms['moat']:.2f}x bare moat)")
    print(f"moat until the session is ready (status line): median {ms['ready']:.0f} ms")
    print(f"baseline python -c pass: median {ms['python']:.0f} ms "
          f"-> moat is {ms['moat'] / ms['python']:.1f}x a bare interpreter")
    print(f"baseline moat -p (whole run, parts started first): median {ms['headless']:.0f} ms "
          f"-> the prompt is ready at {ms['moat'] / ms['headless']:.0%} of that")
    print(f"target: under {TARGET_MS:.0f} ms -> {ms['moat'] / TARGET_MS:.0%} of target")
    print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
