"""The ``moat`` entry point: hand over to the commands, print a user-fixable error.

A bare ``moat`` (the interactive session, and the command people type most)
goes straight to ``run_interactive`` without the command-line parser: click,
the settings loader and the rest load while the prompt is already up (see
``interactive``), so this module imports nothing heavy. Every other command
line goes to ``commands``. Errors a user can fix are printed here, and only
here, as ``moat: error: ...``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from moatcode.errors import MoatError

if TYPE_CHECKING:
    from moatcode.config.settings import Settings


def main(argv: list[str] | None = None) -> None:
    """Entry point: run ``moat``, printing a user-fixable error as one line."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args:
            from moatcode.cli.commands import run_cli

            code = run_cli(args)
        else:
            from moatcode.cli.interactive import run_interactive

            code = run_interactive(_settings_here, None)
    except MoatError as exc:
        _say(f"moat: error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _say("moat: interrupted")
        sys.exit(130)
    sys.exit(code)


def _settings_here() -> Settings:
    from moatcode.cli._load import load, workspace_for

    return load(workspace_for(None))


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
