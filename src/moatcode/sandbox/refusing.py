"""``RefusingSandbox``: where commands cannot be confined, none run.

Used when bubblewrap cannot run here and the managed policy does not allow
unsandboxed commands: reading and editing still work, and every command comes
back refused with the reason and the fix, for the model and the user alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from moatcode.sandbox.base import ExecResult


class RefusingSandbox:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    @property
    def name(self) -> str:
        return "refused"

    def run(self, argv: Sequence[str], cwd: Path, timeout: float, env: Mapping[str, str],
            max_output: int = 1 << 20) -> ExecResult:
        message = f"Commands cannot run here: {self.reason}\n"
        return ExecResult(exit_code=126, output=message.encode()[:max_output])
