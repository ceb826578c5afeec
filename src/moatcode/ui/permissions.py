"""The session's permissions as the user changes them: the mode, and rules approved on the way.

``PermissionState`` keeps the rules from the settings files, the rules saved to
the project file during the session and the rules approved for the session
only, builds the policy engine from them (with the function the CLI gives it,
so it is built exactly as at start), and tells its listeners (the agent) about
each new engine. A managed policy that locks the mode, or the allow rules,
narrows what it offers: it never loosens a lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from moatcode.config.settings import RuleSource
from moatcode.errors import PolicyError
from moatcode.types import Action

if TYPE_CHECKING:
    from moatcode.policy.engine import EffectiveRule, PolicyEngine
    from moatcode.policy.modes import Mode

BuildEngine = Callable[[Sequence[RuleSource], "Mode"], "PolicyEngine"]
SESSION_SOURCE = "approved in this session"


@dataclass(frozen=True)
class Saved:
    """Where an "always" rule went, and whether it counts now."""

    path: Path
    effective: bool


@dataclass
class PermissionState:
    rules: tuple[RuleSource, ...]
    mode: Mode
    allowed_modes: tuple[Mode, ...]
    locked: frozenset[str]
    trusted: bool
    workspace: Path
    build: BuildEngine
    listeners: list[Callable[[PolicyEngine], None]] = field(default_factory=list)
    added: list[RuleSource] = field(default_factory=list)

    def __post_init__(self) -> None:
        if "permissions.mode" in self.locked or "permissions" in self.locked:
            self.allowed_modes = (self.mode,)
        # Built on first use: the engine's imports are not needed to show the prompt.
        self._base: PolicyEngine | None = None
        self._engine: PolicyEngine | None = None

    @property
    def engine(self) -> PolicyEngine:
        if self._engine is None:
            self._engine = self._base_engine().with_mode(self.mode)
        return self._engine

    def _base_engine(self) -> PolicyEngine:
        if self._base is None:
            self._base = self.build(self.all_rules(), self.mode)
        return self._base

    def all_rules(self) -> tuple[RuleSource, ...]:
        return (*self.rules, *self.added)

    # -- modes ---------------------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        if mode not in self.allowed_modes:
            raise PolicyError(f"The managed policy does not allow {mode} mode here; use one "
                              f"of: {', '.join(self.allowed_modes)}.")
        self.mode = mode
        self._publish(self._base_engine().with_mode(mode))

    def next_mode(self) -> Mode:
        """The mode after the current one, in the order Shift-Tab cycles them."""
        modes = self.allowed_modes
        index = modes.index(self.mode) if self.mode in modes else -1
        return modes[(index + 1) % len(modes)]

    # -- rules approved on the way -------------------------------------------

    @property
    def can_remember(self) -> bool:
        """False when the managed policy allows only its own allow rules."""
        return not ({"permissions.allow", "permissions"} & self.locked)

    def propose(self, action: Action) -> tuple[str, ...]:
        """Allow rules that would let exactly this action run without asking, or ()."""
        if not self.can_remember:
            return ()
        rules = self._candidates(action)
        if not rules:
            return ()
        trial = [RuleSource("allow", r, "flag", SESSION_SOURCE, None, self.workspace)
                 for r in rules]
        engine = self.build((*self.all_rules(), *trial), self.mode)
        return rules if engine.decide(action).decision == "allow" else ()

    def remember_for_session(self, rules: Sequence[str]) -> None:
        self._add(rules, "flag", SESSION_SOURCE)

    def remember_for_project(self, rules: Sequence[str]) -> Saved:
        """Save to ``.moat/config.toml``; it counts now only if the folder is trusted.

        An untrusted folder's file counts only after `moat trust`, so the rule
        is also kept for this session: trusting the folder here would also turn
        on every other rule the repository ships, which the user did not see.
        """
        from moatcode.ui.project_rules import save_allow_rules

        path = save_allow_rules(self.workspace, rules)
        if self.trusted:
            self._add(rules, "project", str(path))
        else:
            self._add(rules, "flag", SESSION_SOURCE)
        return Saved(path, self.trusted)

    def describe(self) -> tuple[EffectiveRule, ...]:
        return self.engine.describe()

    # -- helpers -------------------------------------------------------------

    def _add(self, rules: Sequence[str], layer: str, source: str) -> None:
        known = {(r.kind, r.text, r.source) for r in self.added}
        for text in rules:
            if ("allow", text, source) not in known:
                self.added.append(RuleSource("allow", text, layer, source, None,
                                             self.workspace))
        self._base = self.build(self.all_rules(), self.mode)
        self._publish(self._base)

    def _publish(self, engine: PolicyEngine) -> None:
        self._engine = engine
        for listener in self.listeners:
            listener(engine)

    def _candidates(self, action: Action) -> tuple[str, ...]:
        if action.kind == "bash" and action.command:
            from moatcode.policy.shell import analyse_command

            rules = []
            for part in analyse_command(action.command).parts:
                if part.kind != "command":
                    continue
                text = part.text.strip()
                if (part.unresolved or "*" in text or "\n" in text
                        or any(w.dynamic for w in part.words)):
                    return ()
                rules.append(f"Bash({text})")
            return tuple(dict.fromkeys(rules))
        if action.kind == "edit":
            rules = []
            root = self.workspace.resolve()
            for given in action.paths:
                path = Path(given).expanduser()
                real = (path if path.is_absolute() else root / path).resolve()
                if not real.is_relative_to(root) or real == root or "*" in given:
                    return ()
                rules.append(f"Edit(/{real.relative_to(root).as_posix()})")
            return tuple(rules)
        return ()
