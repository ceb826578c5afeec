"""Slash command dispatch: built-ins, custom commands, and close matches for a typo."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moatcode.types import Message
from moatcode.ui.console import ConsoleRenderer
from moatcode.ui.custom_commands import CustomCommand
from moatcode.ui.slash import COMMANDS, command_summaries, dispatch
from moatcode.ui.status import Status
from tests.ui.conftest import Screen


@dataclass
class Context:
    """The parts of the interactive session that these commands touch."""

    renderer: ConsoleRenderer
    custom: dict[str, CustomCommand] = field(default_factory=dict)
    status: Status = field(default_factory=Status)
    prompts: list[str] = field(default_factory=list)
    exited: bool = False
    permissions: Any = None
    asker: Any = None
    host: Any = None
    started_at: float = 0.0

    def run_prompt(self, text: str) -> None:
        self.prompts.append(text)

    def request_exit(self) -> None:
        self.exited = True


def context() -> tuple[Context, Screen]:
    screen = Screen()
    review = CustomCommand("review", "Review code", "Review $ARGUMENTS.", Path("review.md"))
    return Context(ConsoleRenderer(screen.console, live=False), {"review": review}), screen


def test_a_typo_lists_the_close_matches() -> None:
    ctx, screen = context()
    dispatch(ctx, "/mdoe plan")  # type: ignore[arg-type]
    dispatch(ctx, "/revew")  # type: ignore[arg-type]
    dispatch(ctx, "/zzz")  # type: ignore[arg-type]
    assert screen.text == (
        "✗ Unknown command /mdoe. Did you mean /mode, /model or /undo?\n"
        "✗ Unknown command /revew. Did you mean /review or /resume?\n"
        "✗ Unknown command /zzz. Type /help to see the commands.\n")


def test_custom_commands_run_their_prompt_and_exit_exits() -> None:
    ctx, _ = context()
    dispatch(ctx, "/review  src/app.py ")  # type: ignore[arg-type]
    dispatch(ctx, "/quit")  # type: ignore[arg-type]
    assert (ctx.prompts, ctx.exited) == (["Review src/app.py."], True)


def test_help_lists_every_command_and_the_keys() -> None:
    ctx, screen = context()
    dispatch(ctx, "/help")  # type: ignore[arg-type]
    for name in ("/help", "/clear", "/compact", "/model [name]", "/mode [name]", "/permissions",
                 "/diff", "/undo [N]", "/usage", "/audit", "/resume [id]", "/exit",
                 "/review [args]"):
        assert f"\n{name} " in "\n" + screen.text
    assert "Shift-Tab: mode" in screen.text
    assert list(command_summaries(ctx.custom)) == [*COMMANDS, "review"]


def test_clear_starts_anew_and_says_where_a_conversation_went() -> None:
    @dataclass
    class Live:
        session_id: str
        agent: Any

    @dataclass
    class Agent:
        messages: list[Message]

    ctx, screen = context()
    live = [Live("aaaaaaaa-1", Agent([Message("system", "s"), Message("user", "hi")]))]
    restarts: list[str | None] = []
    ctx.session = lambda: live[-1]  # type: ignore[attr-defined]

    def restart(resume_id: str | None) -> None:
        restarts.append(resume_id)
        live.append(Live(f"bbbbbbbb-{len(live)}", Agent([Message("system", "s")])))

    ctx.restart = restart  # type: ignore[attr-defined]
    dispatch(ctx, "/clear")  # type: ignore[arg-type]
    dispatch(ctx, "/clear")  # type: ignore[arg-type]  # nothing was said: nothing to resume
    assert restarts == [None, None]
    text = " ".join(screen.text.split())  # notes wrap at the screen's width
    assert text == ("• Started a new conversation. The previous one is saved: /resume, or moat "
                    "--resume aaaaaaaa. • Started a new conversation.")


def test_undo_names_the_files_it_never_covered(tmp_path: Path) -> None:
    from moatcode.snapshots.git_tree import SnapshotStore, snapshot_dir

    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("v1\n")
    (workspace / "big.bin").write_bytes(b"x" * 5000)
    store = SnapshotStore(workspace, snapshot_dir(tmp_path / "snaps", "s"), max_file_bytes=4096)
    store.take("edit a.txt")
    (workspace / "a.txt").write_text("v2\n")

    @dataclass
    class Live:
        snapshots: SnapshotStore

    ctx, screen = context()
    ctx.session = lambda: Live(store)  # type: ignore[attr-defined]
    notes: list[str] = []
    ctx.add_note = notes.append  # type: ignore[attr-defined]
    store.max_file_bytes = 2 * 1024 * 1024  # the limit as shown; a file left out stays out
    dispatch(ctx, "/undo")  # type: ignore[arg-type]
    text = " ".join(screen.text.split())
    assert "restored a.txt" in text
    assert "Not covered by undo (untracked, over 2 MB, never snapshotted): big.bin." in text
    assert (workspace / "a.txt").read_text() == "v1\n"
