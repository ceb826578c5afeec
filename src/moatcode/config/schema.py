"""The shape of a settings file: every key, its type and its bounds.

Every key is optional in a file; an unknown key is an error naming the key and
the file, a bad value one naming the key, the file and what it must be.

The schema is a table checked by ``check_values`` rather than pydantic models:
the settings are flat and few, and building pydantic models cost Moat's
start-up about 230 ms (measured with ``python -X importtime``) against a 300 ms
budget for the whole interactive start; pydantic stays where HTTP bodies are
validated (the gateway).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from moatcode.errors import ConfigError

Mode = Literal["default", "accept-edits", "plan", "auto"]
MODES: tuple[Mode, ...] = ("default", "accept-edits", "plan", "auto")


@dataclass(frozen=True)
class Key:
    kind: Literal["str", "int", "float", "bool", "str_list"]
    choices: tuple[str, ...] = ()
    above: float | None = None  # exclusive lower bound
    at_least: float | None = None
    below: float | None = None  # exclusive upper bound
    at_most: float | None = None

    def problem(self, value: Any) -> str:
        """Why ``value`` does not fit, or an empty string."""
        if self.kind == "str_list":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return "must be a list of strings"
            bad = [v for v in value if self.choices and v not in self.choices]
            return f"{bad[0]!r} is not one of {', '.join(self.choices)}" if bad else ""
        if self.kind == "bool":
            return "" if isinstance(value, bool) else "must be true or false"
        if self.kind == "str":
            if not isinstance(value, str):
                return "must be a string"
            if self.choices and value not in self.choices:
                return f"must be one of {', '.join(self.choices)}"
            return ""
        numeric = (int,) if self.kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return "must be a whole number" if self.kind == "int" else "must be a number"
        return self._range(value)

    def _range(self, value: float) -> str:
        if self.above is not None and not value > self.above:
            return f"must be greater than {self.above:g}"
        if self.at_least is not None and not value >= self.at_least:
            return f"must be at least {self.at_least:g}"
        if self.below is not None and not value < self.below:
            return f"must be less than {self.below:g}"
        if self.at_most is not None and not value <= self.at_most:
            return f"must be at most {self.at_most:g}"
        return ""


STR, BOOL, STR_LIST = Key("str"), Key("bool"), Key("str_list")
POSITIVE = Key("int", above=0)

SCHEMA: dict[str, Key] = {
    "model.base_url": STR,
    "model.name": STR,
    # The name of the environment variable that holds the key, never the key itself.
    "model.api_key_env": STR,
    "model.context_window": POSITIVE,
    "model.max_output_tokens": POSITIVE,
    "model.temperature": Key("float", at_least=0, at_most=2),
    "model.stream": BOOL,
    "model.timeout_s": Key("float", above=0),
    "model.max_retries": Key("int", at_least=0, at_most=20),
    "model.tool_protocol": Key("str", choices=("native", "text", "auto")),
    "model.model_file": STR,
    "model.allowed_endpoints": STR_LIST,
    "model.allowed_models": STR_LIST,
    "agent.max_turns": POSITIVE,
    # Start compacting when the prompt passes this share of the context window.
    "agent.compact_at": Key("float", above=0.1, below=1.0),
    "agent.tool_output_chars": Key("int", at_least=1000),
    "permissions.mode": Key("str", choices=MODES),
    "permissions.allowed_modes": Key("str_list", choices=MODES),
    "permissions.allow": STR_LIST,
    "permissions.ask": STR_LIST,
    "permissions.deny": STR_LIST,
    "sandbox.network": Key("str", choices=("none", "allowlist")),
    "sandbox.allowed_hosts": STR_LIST,
    "sandbox.command_timeout_s": Key("float", above=0, at_most=3600),
    "sandbox.allow_unsandboxed": BOOL,
    "sandbox.max_processes": Key("int", above=8),
    "sandbox.max_memory_mb": Key("int", above=64),
    "audit.path": STR,
    "audit.store_requests": Key("str", choices=("full", "hash")),
    # "normal": a crash of Moat loses nothing; "full": also a power cut (fsync per record).
    "audit.sync": Key("str", choices=("normal", "full")),
    "audit.key_path": STR,
    "audit.checkpoint_every": POSITIVE,
    "audit.required": BOOL,
    "gateway.url": STR,
    "gateway.token_env": STR,
    "gateway.policy_pubkey": STR,
    "gateway.policy_cache_max_age_s": Key("int", at_least=0),
    # Only honoured in the managed file: dotted keys no lower layer may change.
    "locked": STR_LIST,
}
SECTIONS = frozenset(key.partition(".")[0] for key in SCHEMA if "." in key)


def check_values(values: Mapping[str, Any], where: str) -> None:
    """Raise ``ConfigError`` for the first unknown key or bad value in ``values``."""
    for key, value in values.items():
        spec = SCHEMA.get(key)
        if spec is None:
            if key in SECTIONS:
                raise ConfigError(f"'{key}' in {where} must be a table ([{key}]); fix it.")
            raise ConfigError(f"Unknown setting '{key}' in {where}; remove it or fix its "
                              "spelling (docs/configuration.md lists every key).")
        problem = spec.problem(value)
        if problem:
            raise ConfigError(f"Bad value for '{key}' in {where}: it {problem}; fix it.")


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed settings document (``{"model": {"name": ...}}``) as dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in SECTIONS:
            flat.update({f"{key}.{name}": item for name, item in value.items()})
        else:
            flat[key] = value
    return flat


def check_document(data: Any, where: str) -> None:
    """Raise ``ConfigError`` when a parsed settings document is not valid."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a table of settings; fix it.")
    check_values(flatten(data), where)
