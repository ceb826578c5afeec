"""The rules of every layer, compiled once and indexed so a decision costs a few regex calls.

Path rules of one list (deny, ask or allow) that apply to one tool are joined
into a single alternation with a named group per rule; ``fullmatch`` tries the
alternatives in order, so the group that matched is the first rule in layer
order. Bash rules are indexed by the basename of the program they name, so a
command is only compared with the rules that could be about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from moatcode.policy.bash_match import BashPattern, compile_bash_pattern
from moatcode.policy.paths import PathPattern, compile_path_pattern
from moatcode.policy.rules import FAMILIES, Rule, RuleSet
from moatcode.types import ActionKind

Bucket = Literal["deny", "ask", "allow"]
BUCKETS: tuple[Bucket, ...] = ("deny", "ask", "allow")


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    layer: str
    source: str
    kind: ActionKind
    tool: str | None  # None: the rule names a family and covers all its tools
    paths: tuple[PathPattern, ...] = ()  # one per way of spelling the bases
    bash: BashPattern | None = None

    def where(self) -> str:
        line = f" line {self.rule.line}" if self.rule.line else ""
        return f"the {self.layer} layer ({self.source}{line})"


class RuleIndex:
    """Compiled rules by list; lookups are cached, and nothing here depends on the mode."""

    def __init__(
        self,
        rule_sets: tuple[RuleSet, ...],
        *,
        roots: dict[int, tuple[str, ...]],
        workspaces: tuple[str, ...],
        homes: tuple[str, ...],
    ) -> None:
        """``roots`` maps each rule set's position to the spellings of its root."""
        built: dict[Bucket, list[CompiledRule]] = {b: [] for b in BUCKETS}
        for i, rs in enumerate(rule_sets):
            for bucket in BUCKETS:
                built[bucket].extend(
                    _compile(rule, rs, roots[i], workspaces, homes) for rule in getattr(rs, bucket)
                )
        self.rules: dict[Bucket, tuple[CompiledRule, ...]] = {b: tuple(built[b]) for b in BUCKETS}
        self._paths: dict[tuple[Bucket, ActionKind, str, bool, bool], _PathLookup] = {}
        self._bash: dict[tuple[Bucket, str | None], tuple[CompiledRule, ...]] = {}

    def has(self, bucket: Bucket, kind: ActionKind) -> bool:
        return any(c.kind == kind for c in self.rules[bucket])

    def first_path(
        self,
        bucket: Bucket,
        kind: ActionKind,
        tool: str,
        path: str,
        *,
        lenient: bool,
        named_by: tuple[str, ...] = (),
    ) -> CompiledRule | None:
        """The first rule of ``bucket`` for ``tool`` whose path pattern matches ``path``.

        ``named_by`` keeps only rules with a specifier from those layers.
        """
        key = (bucket, kind, tool, lenient, bool(named_by))
        lookup = self._paths.get(key)
        if lookup is None:
            lookup = self._paths[key] = self._path_lookup(bucket, kind, tool, lenient, named_by)
        if lookup.regex is None:
            return None
        match = lookup.regex.fullmatch(path)
        if match is None or match.lastgroup is None:
            return None
        return lookup.rules[int(match.lastgroup[1:])]

    def bash_rules(self, bucket: Bucket, program: str | None) -> tuple[CompiledRule, ...]:
        """The Bash rules of ``bucket`` that could match a command running ``program``."""
        key = (bucket, program)
        found = self._bash.get(key)
        if found is None:
            found = self._bash[key] = tuple(
                c
                for c in self.rules[bucket]
                if c.kind == "bash"
                and (
                    c.bash is None
                    or not c.bash.program_name
                    or program is None
                    or c.bash.program_name == program
                )
            )
        return found

    def _path_lookup(
        self,
        bucket: Bucket,
        kind: ActionKind,
        tool: str,
        lenient: bool,
        named_by: tuple[str, ...],
    ) -> _PathLookup:
        rules = tuple(
            c
            for c in self.rules[bucket]
            if c.kind == kind
            and (c.tool is None or c.tool == tool)
            and (not named_by or (c.layer in named_by and c.paths))
        )
        if not rules:
            return _PathLookup((), None)
        alternatives = []
        for i, c in enumerate(rules):
            if not c.paths:
                body = ".*"
            else:
                body = "|".join((p.lenient if lenient else p.strict).pattern for p in c.paths)
            alternatives.append(f"(?P<r{i}>{body})")
        return _PathLookup(rules, re.compile("|".join(alternatives), re.S))


@dataclass(frozen=True)
class _PathLookup:
    rules: tuple[CompiledRule, ...]
    regex: re.Pattern[str] | None


def _compile(
    rule: Rule,
    rs: RuleSet,
    roots: tuple[str, ...],
    workspaces: tuple[str, ...],
    homes: tuple[str, ...],
) -> CompiledRule:
    kind = rule.kind
    tool = None if rule.family in FAMILIES else rule.family
    if rule.specifier is None:
        return CompiledRule(rule, rs.layer, rs.source, kind, tool)
    if kind == "bash":
        return CompiledRule(
            rule, rs.layer, rs.source, kind, tool, bash=compile_bash_pattern(rule.specifier)
        )
    # One pattern for every way the bases are spelled (as given, or resolved).
    patterns = dict.fromkeys(
        compile_path_pattern(rule.specifier, root=r, workspace=w, home=h)
        for r in roots
        for w in workspaces
        for h in homes
    )
    return CompiledRule(rule, rs.layer, rs.source, kind, tool, paths=tuple(patterns))
