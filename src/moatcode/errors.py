"""Errors a user can fix, and the control flow that ends a run.

Three kinds of failure go three ways (see STYLE.md): a failure the model can
fix goes back to it as a failed tool result and never reaches this module; a
failure the user can fix is a ``MoatError`` whose message is one sentence that
names the fix; a bug raises with its traceback.

    MoatError                      exit 1 unless the class says otherwise
    ├── UsageError                 exit 2: bad flags or arguments
    ├── ConfigError                exit 2: a settings file or value is wrong
    ├── ModelError                 exit 3: the model server failed us
    │   ├── ModelUnreachable       nothing listens at the endpoint
    │   ├── ModelAuthError         401/403
    │   ├── UnknownModel           the server does not serve that model
    │   ├── ContextLengthExceeded  the request does not fit the window
    │   └── ModelProtocolError     the server answered something we cannot read
    ├── PolicyError                exit 2: a policy file is broken or forbids the request
    ├── SandboxUnavailable         exit 4: commands cannot be confined here
    ├── AuditUnavailable           exit 5: the audit store cannot take records
    ├── SessionNotFound            exit 2
    ├── MaxTurnsReached            exit 6: control flow, ends a run
    └── Cancelled                  exit 130: the user pressed Ctrl-C

Only ``cli`` prints these, as ``moat: error: <message>``.
"""

from __future__ import annotations


class MoatError(Exception):
    """A failure the user can fix; the message names the fix."""

    exit_code = 1


class UsageError(MoatError):
    exit_code = 2


class ConfigError(MoatError):
    exit_code = 2


class ModelError(MoatError):
    exit_code = 3


class ModelUnreachable(ModelError):
    def __init__(self, base_url: str, detail: str = "") -> None:
        self.base_url = base_url
        reason = f" ({detail})" if detail else ""
        super().__init__(
            f"No model server answers at {base_url}{reason}. "
            "Start one, or point Moat at one with MOAT_BASE_URL or --base-url."
        )


class ModelAuthError(ModelError):
    def __init__(self, base_url: str, status: int) -> None:
        super().__init__(
            f"The model server at {base_url} refused the request with HTTP {status}. "
            "Set MOAT_API_KEY to a key it accepts."
        )


class UnknownModel(ModelError):
    def __init__(self, base_url: str, model: str, available: list[str]) -> None:
        self.available = available
        listed = ", ".join(available) if available else "none"
        super().__init__(
            f"The model server at {base_url} has no model named {model!r} "
            f"(it serves: {listed}); choose one with --model or MOAT_MODEL."
        )


class ContextLengthExceeded(ModelError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The request does not fit the model's context window ({detail}); "
            "start a new session, or serve the model with a larger context."
        )


class ModelProtocolError(ModelError):
    """The server answered, but not with anything an OpenAI client can read."""


class ModelServerError(ModelError):
    """The server kept failing (5xx, dropped streams) after every retry."""


class PolicyError(MoatError):
    exit_code = 2


class SandboxUnavailable(MoatError):
    exit_code = 4


class AuditUnavailable(MoatError):
    exit_code = 5


class SessionNotFound(MoatError):
    exit_code = 2


class MaxTurnsReached(MoatError):
    """Control flow: the run used the turns it was given."""

    exit_code = 6

    def __init__(self, max_turns: int) -> None:
        self.max_turns = max_turns
        super().__init__(
            f"Stopped after {max_turns} turns; continue with --continue, or raise --max-turns."
        )


class Cancelled(MoatError):
    """Control flow: the user interrupted the current step."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("Cancelled; the session is saved, resume it with --continue.")
