"""Print docs/cli.md: the help of every `moat` command, generated so it cannot drift.

`make docs` writes it; `make check` fails when the committed file differs.
"""

from __future__ import annotations

import click

from moatcode.cli.commands import cli


def _walk(command: click.Command, path: list[str], parent: click.Context | None) -> list[str]:
    ctx = click.Context(command, info_name=" ".join(path), parent=None, max_content_width=88,
                        terminal_width=88)
    out = [f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", "", "```text",
           command.get_help(ctx).rstrip(), "```", ""]
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out += _walk(sub, [*path, name], ctx)
    return out


def main() -> None:
    lines = ["# Command-line reference", "",
             "Generated from `moat --help` by `make docs`; do not edit by hand.", ""]
    lines += _walk(cli, ["moat"], None)
    print("\n".join(lines).rstrip())


if __name__ == "__main__":
    main()
