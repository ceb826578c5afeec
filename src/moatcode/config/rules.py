"""Turn the rule strings settings collected into the policy engine's rule sets.

One ``RuleSet`` per settings file (or the command line), so every verdict can
name the file a rule came from. A malformed rule fails here, when settings
load, naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterable

from moatcode.config.settings import RuleSource
from moatcode.policy.rules import Rule, RuleSet, parse_rule


def build_rule_sets(sources: Iterable[RuleSource]) -> list[RuleSet]:
    grouped: dict[tuple[str, str], dict[str, list[Rule]]] = {}
    roots = {}
    for source in sources:
        key = (source.layer, source.source)
        roots[key] = source.root
        kinds = grouped.setdefault(key, {"allow": [], "ask": [], "deny": []})
        kinds[source.kind].append(parse_rule(source.text, source=source.source,
                                             line=source.line))
    return [
        RuleSet(layer=layer, source=where, root=roots[(layer, where)],  # type: ignore[arg-type]
                allow=tuple(kinds["allow"]), ask=tuple(kinds["ask"]), deny=tuple(kinds["deny"]))
        for (layer, where), kinds in grouped.items()
    ]
