"""How the agent asks whether an action may run: the gate, then a person.

The gate (the policy engine) answers allow, ask or deny; an ``ask`` goes to the
approver the front-end gave the agent. Headless runs have no approver: an ask
becomes a denial, recorded as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from moatcode.types import Action, ToolCall


class VerdictLike(Protocol):
    @property
    def decision(self) -> Literal["allow", "ask", "deny"]: ...

    @property
    def rule(self) -> str: ...

    @property
    def layer(self) -> str: ...

    @property
    def reason(self) -> str: ...


class Gate(Protocol):
    def decide(self, action: Action) -> VerdictLike: ...


@dataclass(frozen=True)
class ApprovalRequest:
    call: ToolCall
    action: Action
    verdict: VerdictLike
    # What will happen, as the person should see it: the command, or the diff.
    preview: str


@dataclass(frozen=True)
class Approval:
    allowed: bool
    # "once", "session" (same action again this session) or "project" (a rule was saved).
    scope: Literal["once", "session", "project"] = "once"
    who: str = ""
    # A note for the model, e.g. why not, or what to do instead.
    note: str = ""


class Approver(Protocol):
    def approve(self, request: ApprovalRequest) -> Approval: ...
