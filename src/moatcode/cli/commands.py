"""The ``moat`` commands (click): ``run`` is the default, the others manage the rest.

``moat [PROMPT]`` and ``moat -p PROMPT`` run the agent (the ``run`` command is
the default, so its name may be left out); the other commands manage
sessions, trust, policy, the audit log, the model server and the gateway.
Those in ``_LAZY`` are imported only when named (or for ``--help``): the
gateway's alone pulls in pydantic, a quarter of a second that every ``moat``
would otherwise pay before its prompt.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from moatcode.cli._load import load, workspace_for
from moatcode.errors import UsageError

MODES = ("default", "accept-edits", "plan", "auto")

# Command name -> (module, attribute), imported on first use.
_LAZY = {
    "audit": ("moatcode.cli.audit_cmd", "audit"),
    "doctor": ("moatcode.cli.doctor", "doctor_command"),
    "gateway": ("moatcode.gateway.commands", "gateway"),
    "policy": ("moatcode.cli.policy_cmd", "policy"),
    "serve-model": ("moatcode.cli.serve_cmd", "serve_model_command"),
}


class MoatGroup(click.Group):
    """A group whose default command is ``run`` (``moat "fix it"`` means ``moat run "fix it"``)
    and whose other commands are imported when they are named."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in _LAZY
                        and args[0] not in ("--help", "-h", "--version")):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _LAZY:
            module, name = _LAZY[cmd_name]
            command = getattr(importlib.import_module(module), name)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=MoatGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="moatcode", prog_name="moat")
def cli() -> None:
    """Moat: a coding agent that keeps your code inside your network.

    Run `moat "PROMPT"` for an interactive session, or `moat -p "PROMPT"` to
    run once and print the result. Every action is checked by policy, run in
    a sandbox and written to a tamper-evident audit log.
    """


@cli.command("run")
@click.argument("prompt", required=False)
@click.option("-p", "--print", "print_mode", is_flag=True,
              help="Run once without interaction and print the result.")
@click.option("--output-format", type=click.Choice(["text", "json", "stream-json"]),
              default="text", show_default=True, help="What -p prints.")
@click.option("--max-turns", type=click.IntRange(min=1), help="Stop after this many turns.")
@click.option("--model", help="Model name on the server.")
@click.option("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.")
@click.option("--model-file", type=click.Path(dir_okay=False),
              help="Run this GGUF model in process instead of using a server.")
@click.option("--cwd", type=click.Path(file_okay=False), help="Work in this directory.")
@click.option("-c", "--continue", "continue_", is_flag=True,
              help="Continue the latest session in this project.")
@click.option("-r", "--resume", "resume_id", metavar="ID", help="Resume the session ID.")
@click.option("--mode", "--permission-mode", "mode", type=click.Choice(MODES),
              help="Permission mode.")
@click.option("--allow", "--allowedTools", "allow", multiple=True, metavar="RULE",
              help="Allow rule, e.g. 'Bash(npm test)'. Repeatable.")
@click.option("--ask", "ask", multiple=True, metavar="RULE", help="Ask rule. Repeatable.")
@click.option("--deny", "--disallowedTools", "deny", multiple=True, metavar="RULE",
              help="Deny rule. Repeatable.")
@click.option("-v", "--verbose", count=True, help="Log to stderr (-vv for debug).")
def run_command(prompt: str | None, print_mode: bool, output_format: str, max_turns: int | None,
                model: str | None, base_url: str | None, model_file: str | None,
                cwd: str | None, continue_: bool,
                resume_id: str | None, mode: str | None, allow: tuple[str, ...],
                ask: tuple[str, ...], deny: tuple[str, ...], verbose: int) -> None:
    """Run the agent: interactively, or once with -p."""
    _configure_logging(verbose)
    if continue_ and resume_id:
        raise UsageError("Use either --continue or --resume ID, not both.")
    workspace = workspace_for(cwd)
    flags = {"model.name": model, "model.base_url": base_url, "model.model_file": model_file,
             "agent.max_turns": max_turns, "permissions.mode": mode}
    rules = {"allow": list(allow), "ask": list(ask), "deny": list(deny)}
    if print_mode:
        from moatcode.cli.headless import run_headless

        settings = load(workspace, flags, rules)
        for notice in settings.notices:
            click.echo(f"moat: {notice}", err=True)
        text = prompt if prompt is not None else _read_stdin_prompt()
        code = run_headless(settings, text, output_format, continue_=continue_,
                            resume_id=resume_id)
        sys.exit(code)
    from moatcode.cli.interactive import run_interactive

    sys.exit(run_interactive(lambda: load(workspace, flags, rules), prompt,
                             continue_=continue_, resume_id=resume_id))


def _read_stdin_prompt() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("No prompt given; pass it as an argument (moat -p \"fix the tests\") "
                         "or on standard input.")
    text = sys.stdin.read()
    if not text.strip():
        raise UsageError("The prompt on standard input is empty; pass one as an argument.")
    return text


@cli.command("sessions")
@click.option("--cwd", type=click.Path(file_okay=False), help="The project (default: here).")
def sessions_command(cwd: str | None) -> None:
    """List this project's saved sessions, newest first."""
    from moatcode.sessions.store import SessionStore

    settings = load(workspace_for(cwd))
    infos = SessionStore(settings.data_dir, settings.workspace).list()
    if not infos:
        click.echo("No sessions yet in this project.")
        return
    for info in infos:
        prompt = " ".join(info.first_prompt.split())
        if len(prompt) > 60:
            prompt = prompt[:57] + "..."
        click.echo(f"{info.id}  {info.created.replace('T', ' ')[:19]}  "
                   f"{info.turns:>3} turns  {prompt}")


@cli.command("trust")
@click.option("--cwd", type=click.Path(file_okay=False), help="The folder (default: here).")
@click.option("--revoke", is_flag=True, help="Stop trusting the folder.")
def trust_command(cwd: str | None, revoke: bool) -> None:
    """Trust this folder's own settings (.moat/config.toml, .claude/settings*.json)."""
    from moatcode.config.trust import set_trusted

    workspace = workspace_for(cwd)
    settings = load(workspace)
    changed = set_trusted(settings.data_dir, workspace, not revoke)
    state = "no longer trusted" if revoke else "trusted"
    click.echo(f"{workspace} is {state}." if changed else f"{workspace} was already {state}.")


def _configure_logging(verbose: int) -> None:
    if verbose:
        level = logging.DEBUG if verbose > 1 else logging.INFO
        logging.basicConfig(level=level, stream=sys.stderr,
                            format="moat %(levelname)s %(name)s: %(message)s")


def run_cli(args: list[str]) -> int:
    """Run the command line ``args``; a click usage error is printed here, with its code."""
    try:
        cli.main(args=args, prog_name="moat", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("moat: aborted", err=True)
        return 130
    return 0
