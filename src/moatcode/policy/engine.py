"""``PolicyEngine.decide``: allow, ask or deny one action, and say which rule decided.

Evaluation, for each path of a Read/Edit action and each part and write of a
Bash command:

1. a matching deny rule in any layer denies;
2. a secret file (``is_secret_path``) is never read, unless an allow rule in
   the managed or user layer names it (``builtin:secret-file``);
3. plan mode denies edits and commands;
4. a matching ask rule in any layer asks;
5. a matching allow rule allows (a command part that cannot be read as plain
   words never matches one);
6. otherwise the mode decides (see ``modes``).

Deny and ask rules match leniently and allow rules strictly (``bash_match``,
``paths``). A command is allowed only when every part and every write is; any
denied part denies it, and otherwise any part that asks makes it ask. Across
layers a deny beats an ask beats an allow, whatever the layer; the layers only
order which rule the verdict names when several match, most authoritative
first.
"""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from moatcode.events import Decision
from moatcode.policy._index import BUCKETS, Bucket, CompiledRule, RuleIndex
from moatcode.policy.bash_match import CommandView, match_lenient, match_strict, view_command
from moatcode.policy.modes import PROTECTED_NAMES, Mode, decide_by_mode, describe_mode
from moatcode.policy.paths import follow_links, is_within, resolve_path
from moatcode.policy.rules import LAYER_ORDER, RuleSet
from moatcode.policy.shell import Part, Write, analyse_command
from moatcode.types import Action, ActionKind


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    rule: str  # the rule text that decided, or "mode:default", "builtin:secret-file"...
    layer: str  # the layer of that rule, "mode" or "builtin"
    reason: str  # one sentence a person can read; for Bash, which part decided


@dataclass(frozen=True)
class EffectiveRule:
    """One line of `moat policy show`."""

    decision: Decision
    rule: str
    layer: str
    source: str
    line: int | None = None
    note: str = ""


class PolicyEngine:
    """Decides each action from layered rules and a mode; cheap to call, safe to share."""

    def __init__(
        self,
        rule_sets: Sequence[RuleSet],
        mode: Mode,
        workspace: Path,
        home: Path,
        is_secret_path: Callable[[Path], bool] | None = None,
        *,
        resolve_links: bool = True,
    ) -> None:
        """``resolve_links`` also checks where a path's symlinks lead (one ``realpath``).

        A repository can ship ``notes.md -> ~/.ssh/id_ed25519``; with it on, the
        link's target must pass the rules too.
        """
        self.mode: Mode = mode
        self.rule_sets = tuple(sorted(rule_sets, key=_layer_rank))
        self._resolve_links = resolve_links
        self._secret = is_secret_path
        self._secret_seen: dict[str, bool] = {}
        self._mode_verdicts: dict[tuple[Mode, ActionKind], Verdict] = {}
        self._ws = posixpath.normpath(os.path.abspath(workspace))
        self._home = posixpath.normpath(os.path.abspath(home))
        self._workspaces = _spellings(self._ws, resolve_links)
        roots = {
            i: _spellings(posixpath.normpath(os.path.abspath(rs.root)), resolve_links)
            for i, rs in enumerate(self.rule_sets)
        }
        self._index = RuleIndex(
            self.rule_sets,
            roots=roots,
            workspaces=self._workspaces,
            homes=_spellings(self._home, resolve_links),
        )
        self._bash_restricted = self._index.has("deny", "bash") or self._index.has("ask", "bash")
        self._edit_restricted = self._index.has("deny", "edit") or self._index.has("ask", "edit")

    def with_mode(self, mode: Mode) -> PolicyEngine:
        """The same rules under another mode (the user switched modes mid-session)."""
        clone = object.__new__(PolicyEngine)
        clone.__dict__.update(self.__dict__)
        clone.mode = mode
        return clone

    # -- deciding ---------------------------------------------------------

    def decide(self, action: Action) -> Verdict:
        if action.kind == "none":
            return Verdict(
                "allow",
                "builtin:no-permission-needed",
                "builtin",
                f"{action.tool} touches no file and runs nothing.",
            )
        if action.kind == "bash":
            return self._decide_bash(action)
        paths = action.paths or (".",)
        verb = "Reading" if action.kind == "read" else "Editing"
        if len(paths) == 1:
            return self._decide_path(action.kind, action.tool, paths[0], f"{verb} {paths[0]}")
        verdicts = [self._decide_path(action.kind, action.tool, p, f"{verb} {p}") for p in paths]
        return _combine(verdicts)

    def _candidates(self, given: str) -> list[str] | None:
        """The path as written and, if links lead elsewhere, where it really is; None
        when ``given`` names no one fixed path."""
        lexical = resolve_path(given, workspace=self._ws, home=self._home)
        if lexical is None:
            return None
        candidates = [lexical]
        if self._resolve_links:
            real = follow_links(lexical)
            if real != lexical:
                candidates.append(real)
        return candidates

    def _decide_path(self, kind: ActionKind, tool: str, given: str, what: str,
                     candidates: list[str] | None = None) -> Verdict:
        """``candidates``: ``_candidates(given)`` when the caller has it already."""
        if candidates is None:
            candidates = self._candidates(given)
        if candidates is None:
            if kind == "edit" and self.mode == "plan":
                return self._plan()
            return Verdict(
                "ask",
                f"mode:{self.mode}",
                "mode",
                f"{what}: {given!r} does not name one fixed path, so no rule can vouch for it.",
            )
        lexical = candidates[0]

        index = self._index
        for p in candidates:
            c = index.first_path("deny", kind, tool, p, lenient=True)
            if c is not None:
                return Verdict(
                    "deny",
                    c.rule.text,
                    c.layer,
                    f"{what} matches deny rule {c.rule.text} in {c.where()}.",
                )
        secret = self._secret is not None and any(self._is_secret(p) for p in candidates)
        if (
            secret
            and kind == "read"
            and not all(
                index.first_path("allow", kind, tool, p, lenient=False, named_by=_SECRET_LAYERS)
                for p in candidates
            )
        ):
            return Verdict(
                "deny",
                "builtin:secret-file",
                "builtin",
                f"{what}: it is a secret file, which only an allow rule in the managed "
                "or user settings can open.",
            )
        if kind == "edit" and self.mode == "plan":
            return self._plan()
        for p in candidates:
            c = index.first_path("ask", kind, tool, p, lenient=True)
            if c is not None:
                return Verdict(
                    "ask",
                    c.rule.text,
                    c.layer,
                    f"{what} matches ask rule {c.rule.text} in {c.where()}.",
                )
        allowed = [index.first_path("allow", kind, tool, p, lenient=False) for p in candidates]
        first = allowed[0]
        if first is not None and all(allowed):
            return Verdict(
                "allow",
                first.rule.text,
                first.layer,
                f"{what} matches allow rule {first.rule.text} in {first.where()}.",
            )

        rule = f"mode:{self.mode}"
        outside = next((p for p in candidates if not self._inside(p)), None)
        if outside is not None:
            return Verdict(
                "ask",
                rule,
                "mode",
                f"{what}: {outside} is outside the workspace, and no allow rule names it.",
            )
        if kind == "edit":
            protected = next((p for p in candidates if self._protected(p)), None)
            if protected is not None or secret:
                shown = protected or lexical
                why = "a secret file" if protected is None else "a protected path"
                return Verdict(
                    "ask",
                    rule,
                    "mode",
                    f"{what}: {shown} is {why}, so no mode edits it without asking.",
                )
        return self._mode_verdict(kind)

    def _mode_verdict(self, kind: ActionKind) -> Verdict:
        known = self._mode_verdicts.get((self.mode, kind))
        if known is not None:
            return known
        decision = decide_by_mode(self.mode, kind)
        noun = "Reading" if kind == "read" else "Editing"
        verdict = self._mode_verdicts[(self.mode, kind)] = Verdict(
            decision,
            f"mode:{self.mode}",
            "mode",
            f"{noun} inside the workspace {_mode_says(decision)} in {self.mode} mode.",
        )
        return verdict

    def _decide_bash(self, action: Action) -> Verdict:
        if action.command is None:
            return Verdict("ask", f"mode:{self.mode}", "mode", "The command is missing.")
        parts, writes = _prepare(action.command)
        verdicts = [self._decide_part(part, views) for part, views in parts]
        for write in writes:
            verdicts.extend(self._decide_write(write))
        if not verdicts:
            return Verdict("allow", "builtin:no-op", "builtin", "The command runs nothing.")
        return _combine(verdicts)

    def _decide_part(self, part: Part, views: tuple[CommandView, ...]) -> Verdict:
        shown = f"`{_clip(part.text)}`" if part.text else "The command"
        c = self._first_bash("deny", views, lenient=True)
        if c is not None:
            return Verdict(
                "deny",
                c.rule.text,
                c.layer,
                f"{shown} matches deny rule {c.rule.text} in {c.where()}{_loose(views, c)}.",
            )
        if self.mode == "plan":
            return self._plan()
        c = self._first_bash("ask", views, lenient=True)
        if c is not None:
            return Verdict(
                "ask",
                c.rule.text,
                c.layer,
                f"{shown} matches ask rule {c.rule.text} in {c.where()}.",
            )
        if part.unresolved:
            if self.mode == "auto" and not self._bash_restricted:
                return Verdict(
                    "allow",
                    "mode:auto",
                    "mode",
                    f"{shown} cannot be read as plain words ({part.unresolved}); auto "
                    "mode runs it because no Bash deny or ask rule exists.",
                )
            return Verdict(
                "ask",
                f"mode:{self.mode}",
                "mode",
                f"{shown} cannot be read as plain words ({part.unresolved}), "
                "so no allow rule can match it.",
            )
        if part.kind == "noop":
            return Verdict("allow", "builtin:no-op", "builtin", f"{shown} changes nothing.")
        if (
            part.kind == "cd"
            and part.dirs
            and all(d is not None and self._inside(self._dir(d)) for d in part.dirs)
        ):
            return Verdict("allow", "builtin:cd", "builtin", f"{shown} stays inside the workspace.")
        c = self._first_bash("allow", views, lenient=False)
        if c is not None:
            return Verdict(
                "allow",
                c.rule.text,
                c.layer,
                f"{shown} matches allow rule {c.rule.text} in {c.where()}.",
            )
        decision = decide_by_mode(self.mode, "bash")
        return Verdict(
            decision,
            f"mode:{self.mode}",
            "mode",
            f"{shown} matches no allow rule, and {self.mode} mode "
            f"{'runs it' if decision == 'allow' else 'asks before running commands'}.",
        )

    def _decide_write(self, write: Write) -> list[Verdict]:
        target = write.target
        what = f"The write `{_clip(write.text)}`"
        text = target.text
        fixed = target.literal and (not target.tilde or text == "~" or text.startswith("~/"))
        known = fixed and (all(d is not None for d in write.dirs) or text.startswith(("/", "~")))
        if write.rules_only:
            return self._decide_named_write(write, what, known)
        if not known:
            if self.mode == "plan":
                return [self._plan()]
            if self.mode == "auto" and not (self._bash_restricted or self._edit_restricted):
                return [
                    Verdict(
                        "allow",
                        "mode:auto",
                        "mode",
                        f"{what} goes to a path only known when it runs; auto mode "
                        "allows it because no deny or ask rule exists.",
                    )
                ]
            return [
                Verdict(
                    "ask",
                    f"mode:{self.mode}",
                    "mode",
                    f"{what} goes to a path only known when it runs, so no rule can vouch for it.",
                )
            ]
        return [self._decide_path("edit", "", p, f"{what} ({p})") for p in _write_paths(write)]

    def _decide_named_write(self, write: Write, what: str, known: bool) -> list[Verdict]:
        """A file a command's arguments name (``cp``, ``rm``, ``sed -i``...).

        Edit deny and ask rules apply, and protected or secret paths in the
        workspace ask; otherwise the command's own verdict covers the file,
        and the sandbox is the boundary outside the workspace.
        """
        if not known:
            if not self._edit_restricted:
                return []
            return [Verdict(
                "ask", f"mode:{self.mode}", "mode",
                f"{what} goes to a path only known when it runs, and Edit deny or ask rules "
                "exist that it might meet.",
            )]
        verdicts = []
        for path in _write_paths(write):
            candidates = self._candidates(path)
            verdict = self._decide_path("edit", "", path, f"{what} ({path})", candidates)
            if verdict.decision != "allow" and (
                    verdict.layer != "mode" or self._guarded(candidates)):
                verdicts.append(verdict)
        return verdicts

    def _guarded(self, candidates: list[str] | None) -> bool:
        """A protected or secret path inside the workspace (or no one fixed path)."""
        if candidates is None:
            return True
        return any(self._inside(p) and (self._protected(p) or self._is_secret(p))
                   for p in candidates)

    # -- matching helpers -------------------------------------------------

    def _first_bash(
        self, bucket: Bucket, views: tuple[CommandView, ...], *, lenient: bool
    ) -> CompiledRule | None:
        if lenient:
            for view in views:
                for c in self._index.bash_rules(bucket, view.program):
                    if c.bash is None or match_lenient(c.bash, view):
                        return c
            if not views:
                # A part with no words (something unresolved) meets only bare rules.
                return next(
                    (c for c in self._index.bash_rules(bucket, None) if c.bash is None), None
                )
            return None
        if not views:
            return None
        # Allow rules see a privileged part only in its `sudo ...` form.
        view = views[-1]
        for c in self._index.bash_rules(bucket, view.program):
            if c.bash is None or match_strict(c.bash, view):
                return c
        return None

    def _is_secret(self, path: str) -> bool:
        if self._secret is None:
            return False
        known = self._secret_seen.get(path)
        if known is None:
            if len(self._secret_seen) > 4096:
                self._secret_seen.clear()
            known = self._secret_seen[path] = self._secret(Path(path))
        return known

    def _inside(self, path: str) -> bool:
        return any(path == ws or path.startswith(ws + "/") for ws in self._workspaces)

    def _protected(self, path: str) -> bool:
        for ws in self._workspaces:
            if is_within(path, ws) and path != ws:
                rel = path[len(ws) :].lstrip("/").split("/")
                return any(seg in PROTECTED_NAMES for seg in rel)
        return False

    def _dir(self, d: str) -> str:
        resolved = resolve_path(d, workspace=self._ws, home=self._home)
        return resolved if resolved is not None else "/"

    def _plan(self) -> Verdict:
        return Verdict(
            "deny", "mode:plan", "mode", "Plan mode does not change files or run commands."
        )

    # -- describing -------------------------------------------------------

    def describe(self) -> tuple[EffectiveRule, ...]:
        """Every rule in effect, with its layer and source, then the builtin ones and the mode's."""
        out: list[EffectiveRule] = []
        for bucket in BUCKETS:
            out.extend(
                EffectiveRule(bucket, c.rule.text, c.layer, c.source, c.rule.line)
                for c in self._index.rules[bucket]
            )
        if self._secret is not None:
            out.append(
                EffectiveRule(
                    "deny",
                    "builtin:secret-file",
                    "builtin",
                    "moat",
                    note="reading secret files (.env, keys...)",
                )
            )
        out.append(
            EffectiveRule(
                "allow",
                "builtin:no-op",
                "builtin",
                "moat",
                note="true, :, set -e... and cd inside the workspace",
            )
        )
        for decision, note in describe_mode(self.mode):
            out.append(EffectiveRule(decision, f"mode:{self.mode}", "mode", "mode", note=note))
        return tuple(out)


def describe(engine: PolicyEngine) -> tuple[EffectiveRule, ...]:
    """Every effective rule, for `moat policy show`."""
    return engine.describe()


def _write_paths(write: Write) -> list[str]:
    text = write.target.text
    if text.startswith(("/", "~")):
        return [text]
    return list(dict.fromkeys(posixpath.join(d, text) for d in write.dirs if d is not None))


@functools.lru_cache(maxsize=1024)
def _prepare(
    command: str,
) -> tuple[tuple[tuple[Part, tuple[CommandView, ...]], ...], tuple[Write, ...]]:
    """The command's parts, each with its views for matching, and its writes."""
    analysis = analyse_command(command)
    parts = tuple((part, _views(part)) for part in analysis.parts)
    return parts, analysis.writes


def _views(part: Part) -> tuple[CommandView, ...]:
    if not part.words:
        return ()
    inner = view_command(part.words)
    if part.sudo:
        return (inner, view_command((*part.sudo, *part.words)))
    return (inner,)


def _combine(verdicts: list[Verdict]) -> Verdict:
    for decision in ("deny", "ask"):
        for v in verdicts:
            if v.decision == decision:
                return v
    if len(verdicts) == 1:
        return verdicts[0]
    rules = list(dict.fromkeys(v.rule for v in verdicts))
    layers = list(dict.fromkeys(v.layer for v in verdicts))
    reasons = " ".join(v.reason for v in verdicts)
    return Verdict(
        "allow", ", ".join(rules), ", ".join(layers), f"Every part is allowed: {reasons}"
    )


_SECRET_LAYERS = ("managed", "user")


def _layer_rank(rs: RuleSet) -> int:
    return LAYER_ORDER.index(rs.layer) if rs.layer in LAYER_ORDER else len(LAYER_ORDER)


def _spellings(path: str, resolve: bool) -> tuple[str, ...]:
    if not resolve:
        return (path,)
    return tuple(dict.fromkeys((path, os.path.realpath(path))))


def _mode_says(decision: Decision) -> str:
    return {"allow": "is allowed", "ask": "asks first", "deny": "is denied"}[decision]


def _loose(views: tuple[CommandView, ...], c: CompiledRule) -> str:
    """A note when the rule matched only because an expansion could be anything."""
    if not views or c.bash is None or not views[0].may_have_flags:
        return ""
    if all(req <= views[0].flags for req in c.bash.flags):
        return ""
    return " (an unquoted expansion in it could supply the flags)"


def _clip(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
