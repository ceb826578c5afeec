"""`moat` interactively, in a real terminal: tmux runs it, the test types and reads the screen.

Each test starts its own tmux server on a private socket, runs the real `moat`
in a pane against the scripted fake model server, types with `send-keys`,
reads the screen with `capture-pane`, and always kills its server. The last
test runs `moat` with no terminal at all, which must fall back to plain lines.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MOAT, Project, git
from tests.fake_server import Call, FakeModelServer, Reply, SlowStream

pytestmark = pytest.mark.e2e

WAIT_S = 30.0


class Pane:
    """One tmux server with one pane running a command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.socket_path = ""

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=10, check=True)
        return done.stdout

    def keys(self, *keys: str) -> None:
        """Key names as tmux spells them: Enter, C-c, C-d, Escape, BTab..."""
        self.tmux("send-keys", "-t", "moat", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "moat", "-l", text)

    def screen(self) -> str:
        """The visible screen and its scrollback, long lines joined."""
        return self.tmux("capture-pane", "-t", "moat", "-p", "-J", "-S", "-200")

    def wait_for(self, *needles: str, timeout: float = WAIT_S) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(needle in screen for needle in needles):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needles!r} did not appear on the screen within {timeout}s; "
                             f"it shows:\n{screen}")


@pytest.fixture
def pane_factory(project: Project) -> Iterator[Any]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed; .ci/run installs it (apt-get install tmux).")
    panes: list[Pane] = []

    def start(base_url: str, *args: str, width: int = 100, height: int = 45) -> Pane:
        pane = Pane(f"moat-test-{uuid.uuid4().hex[:12]}")
        env = {**project.env, "MOAT_BASE_URL": base_url, "TERM": "xterm-256color"}
        command = " ".join([
            "env", "-i", *(shlex.quote(f"{k}={v}") for k, v in env.items()),
            shlex.quote(MOAT), *(shlex.quote(a) for a in args),
            "; echo \"[moat exited with $?]\"; sleep 120"])
        panes.append(pane)
        pane.tmux("new-session", "-d", "-s", "moat", "-x", str(width), "-y", str(height),
                  "-c", str(project.repo), command)
        pane.socket_path = pane.tmux("display-message", "-p", "#{socket_path}").strip()
        return pane

    yield start
    for pane in panes:
        subprocess.run(["tmux", "-L", pane.socket, "kill-server"], capture_output=True,
                       timeout=10, check=False)
        if pane.socket_path:
            Path(pane.socket_path).unlink(missing_ok=True)


def last_tool_message(body: dict[str, Any]) -> str:
    return str([m for m in body["messages"] if m["role"] == "tool"][-1]["content"])


def test_streaming_approval_denial_and_diff(project: Project, fake_model: FakeModelServer,
                                            pane_factory: Any) -> None:
    def saw_denial(body: dict[str, Any]) -> None:
        assert last_tool_message(body) == ("Error: The user declined this bash call. The user "
                                           "said: read the code first")

    def saw_edit(body: dict[str, Any]) -> None:
        assert last_tool_message(body).startswith("Edited calc/ops.py")

    words = [f"word{n:02d}" for n in range(24)]
    fake_model.add(
        SlowStream(Reply(text="Streaming " + " ".join(words) + " done.",
                         tool_calls=[Call("bash", {"command": "rm -rf build && make all"})]),
                   delay_s=0.15),
        Reply(tool_calls=[Call("edit_file", {"path": "calc/ops.py", "old_string": "a - b",
                                             "new_string": "a + b"})], expect=saw_denial),
        Reply(text="Fixed: **add** adds now.", expect=saw_edit),
    )
    pane = pane_factory(fake_model.url)
    pane.wait_for("›", "default mode")
    pane.type("fix the bug")
    pane.keys("Enter")
    early = pane.wait_for("word01")
    assert "done." not in early  # the answer is drawn while it streams
    screen = pane.wait_for("Bash wants to run", "Allow this Bash call?")
    assert "rm -rf build && make all" in screen
    assert "Why it asks: `rm -rf build` matches no allow rule" in screen
    assert "Yes, and allow Bash(rm -rf build), Bash(make all) for this session" in screen
    pane.keys("4")
    pane.wait_for("Note for the model")
    pane.type("read the code first")
    pane.keys("Enter")
    screen = pane.wait_for("declined by you", "Edit wants to change calc/ops.py")
    assert "-    return a - b" in screen and "+    return a + b" in screen
    pane.keys("1")
    screen = pane.wait_for("Fixed: add adds now.")
    assert "✓ Edit  calc/ops.py  +1 -1" in screen
    assert (project.repo / "calc/ops.py").read_text() == "def add(a, b):\n    return a + b\n"
    pane.keys("C-d")
    pane.wait_for("[moat exited with 0]")


def test_undo_restores_files_changed_by_a_shell_command(
        project: Project, fake_model: FakeModelServer, pane_factory: Any) -> None:
    (project.repo / ".gitignore").write_text("*.log\n")
    (project.repo / "notes.txt").write_text("untracked notes\n")
    (project.repo / "debug.log").write_text("ignored\n")
    git(project.repo, "add", ".gitignore")
    git(project.repo, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm",
        "ignore logs")
    before = _git_state(project.repo)
    fake_model.add(
        Reply(tool_calls=[Call("bash", {"command": "echo broken > calc/ops.py && rm test_ops.py"
                                                   " notes.txt && mkdir -p gen && echo x > "
                                                   "gen/new.txt && echo y > debug.log"})]),
        Reply(text="I changed a few files."),
    )
    pane = pane_factory(fake_model.url, "--mode", "auto")
    pane.wait_for("›", "auto mode")
    pane.type("change things")
    pane.keys("Enter")
    pane.wait_for("I changed a few files.")
    assert (project.repo / "calc/ops.py").read_text() == "broken\n"
    pane.type("/undo")
    pane.keys("Enter")
    screen = pane.wait_for("Undid 1 step")
    for line in ("restored calc/ops.py", "restored notes.txt", "restored test_ops.py",
                 "deleted  gen/new.txt"):
        assert line in screen
    assert (project.repo / "calc/ops.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert (project.repo / "notes.txt").read_text() == "untracked notes\n"
    assert (project.repo / "test_ops.py").exists()
    assert not (project.repo / "gen").exists()
    # Ignored files are neither saved nor restored.
    assert (project.repo / "debug.log").read_text() == "y\n"
    # The user's branches, index, stash and object store are untouched.
    assert _git_state(project.repo) == before
    pane.type("/mdoe")
    pane.keys("Enter")
    pane.wait_for("Unknown command /mdoe. Did you mean /mode, /model or /undo?")
    pane.keys("C-d")
    pane.wait_for("[moat exited with 0]")


def test_ctrl_c_cancels_a_slow_step_and_keeps_the_session(
        project: Project, fake_model: FakeModelServer, pane_factory: Any) -> None:
    def second_prompt(body: dict[str, Any]) -> None:
        assert body["messages"][-1] == {"role": "user", "content": "are you there?"}

    fake_model.add(
        SlowStream(Reply(text="slow " * 200), delay_s=0.5),
        Reply(text="Still here.", expect=second_prompt),
    )
    pane = pane_factory(fake_model.url)
    pane.wait_for("›", "default mode")
    pane.keys("BTab")  # Shift-Tab: the next mode, shown in the status line
    pane.wait_for("accept-edits mode")
    pane.type("take your time")
    pane.keys("Enter")
    # ("slow slow": the temporary path on the screen has "slow" in it.)
    pane.wait_for("Permission mode is now accept-edits.", "slow slow")
    pane.keys("C-c")
    pane.wait_for("Cancelled; the session goes on.")
    pane.type("are you there?")
    pane.keys("Enter")
    pane.wait_for("Still here.")
    pane.keys("C-c")
    pane.wait_for("Press Ctrl-C again")
    pane.keys("C-c")
    pane.wait_for("[moat exited with 0]")


def test_a_session_that_cannot_start_says_why_without_waiting_for_a_prompt(
        project: Project, pane_factory: Any) -> None:
    pane = pane_factory("http://127.0.0.1:9/v1")
    pane.wait_for("No model server answers at http://127.0.0.1:9/v1", "[moat exited with 3]")


def test_keys_typed_before_the_prompt_is_drawn_are_kept_and_notices_come_above_it(
        project: Project, fake_model: FakeModelServer, pane_factory: Any) -> None:
    def saw_question(body: dict[str, Any]) -> None:
        assert body["messages"][-1]["content"].endswith("\n\nwhat does add do?")

    (project.repo / ".moat").mkdir()
    (project.repo / ".moat" / "config.toml").write_text('[model]\nname = "from-the-repo"\n')
    fake_model.add(Reply(text="It subtracts.", expect=saw_question))
    pane = pane_factory(fake_model.url)
    pane.type("what does ")  # moat is still starting: the terminal keeps these keys
    screen = pane.wait_for("›", "default mode", "Moat in")
    # The settings load after the prompt is drawn; what they say goes above it.
    notice = screen.index("moat: Ignoring model.name from ")
    assert notice < screen.index("Moat in") < screen.rindex("› what does")
    pane.type("add do?")
    pane.keys("Enter")
    pane.wait_for("It subtracts.")
    pane.keys("C-d")
    pane.wait_for("[moat exited with 0]")


def test_a_settings_error_ends_the_first_prompt_with_the_fix(
        project: Project, pane_factory: Any) -> None:
    config = project.home / ".config" / "moat" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[model\n")
    pane = pane_factory("http://127.0.0.1:9/v1")
    screen = pane.wait_for("[moat exited with 2]")
    assert f"moat: error: {config} is not valid TOML" in screen
    assert screen.index("›") < screen.index("moat: error:")  # the prompt came first


def test_without_a_terminal_the_session_reads_plain_lines(
        project: Project, fake_model: FakeModelServer) -> None:
    fake_model.add(Reply(tool_calls=[Call("bash", {"command": "python -m pytest -q"})]),
                   Reply(text="The test fails: add subtracts."))
    done = subprocess.run([MOAT], cwd=project.repo, capture_output=True, text=True, timeout=120,
                          input="why does the test fail?\nn\nrun it yourself\n",
                          env={**project.env, "MOAT_BASE_URL": fake_model.url})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\x1b[" not in out  # no colours or cursor movement into a pipe
    assert "> why does the test fail?" in out
    assert "python -m pytest -q" in out and "Allow this Bash call?" in out
    assert "Bash  python -m pytest -q  declined by you" in out
    assert "note to the model: run it yourself" in out
    assert "The test fails: add subtracts." in out


def _git_state(repo: Path) -> tuple[str, ...]:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              check=True).stdout

    return (run("show-ref"), run("stash", "list"), run("count-objects"),
            run("ls-files", "--stage"))
