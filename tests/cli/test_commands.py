"""What `moat` imports before its prompt, and the commands imported only when named."""

from __future__ import annotations

import subprocess
import sys

import click

from moatcode.cli.commands import cli

# Each costs tens of milliseconds (pydantic a quarter of a second) that a bare `moat`
# would spend before its prompt is drawn.
HEAVY = ("click", "rich", "pydantic", "prompt_toolkit", "moatcode.config.load",
         "moatcode.gateway.commands", "moatcode.agent.loop")


def imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.split()


def test_the_entry_point_and_the_interactive_front_import_nothing_heavy() -> None:
    assert imported_after("import moatcode.cli.main, moatcode.cli.interactive") == []


def test_the_commands_leave_the_gateway_and_pydantic_until_named() -> None:
    assert imported_after("import moatcode.cli.commands") == ["click", "moatcode.config.load"]


def test_every_command_is_listed_and_found_by_its_name() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert names == ["audit", "doctor", "gateway", "policy", "run", "serve-model", "sessions",
                     "trust"]
    found = [cli.get_command(ctx, name) for name in names]
    assert [command.name if command else None for command in found] == names
    assert cli.get_command(ctx, "nonsense") is None


def test_a_command_imported_when_named_runs() -> None:
    moat = [sys.executable, "-c", "from moatcode.cli.main import main; main()"]
    done = subprocess.run([*moat, "gateway", "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("Usage: moat gateway [OPTIONS] COMMAND [ARGS]...")
