"""``UnconfinedSandbox``: run a command as the user, with no confinement at all.

Only for where the managed (organisation) layer explicitly allows unsandboxed
commands, and for unit tests of other parts. It still gives the process
guarantees every command gets: its own session and process group (so it cannot
read or signal the terminal's foreground group), the whole group killed when the
command ends or times out, one capped output pipe, and exactly the environment
it was given.

What it does not do: a process that leaves the group (``setsid``) survives the
command; files, network and resources are the user's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from moatcode.sandbox._process import run_process
from moatcode.sandbox.base import ExecResult


class UnconfinedSandbox:
    @property
    def name(self) -> str:
        return "none"

    def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        timeout: float,
        env: Mapping[str, str],
        max_output: int = 1 << 20,
    ) -> ExecResult:
        try:
            outcome = run_process(argv, cwd=cwd, env=env, timeout=timeout, max_output=max_output)
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            # The working directory cannot be entered: the model can fix that.
            message = f"{exc.filename or cwd}: {exc.strerror}\n".encode()
            return ExecResult(exit_code=126, output=message[:max_output])
        return ExecResult(
            exit_code=outcome.exit_code,
            output=outcome.output,
            timed_out=outcome.timed_out,
            output_truncated=outcome.output_truncated,
            duration_s=outcome.duration_s,
            extra={"output_bytes": str(outcome.output_bytes)},
        )
