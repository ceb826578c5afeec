"""Read the settings layers, apply locks and trust, build ``Settings``.

Layers, lowest first: built-in defaults, the user file, the project file,
``MOAT_*`` environment variables, command-line flags; the managed file is
applied last and wins. The managed file may also ``lock`` keys (no lower
layer may change them) and holds the keys only an organisation may set.
A project file lives in the repository, so it is untrusted until the user
runs ``moat trust``: until then only its ``deny`` and ``ask`` rules count.
Claude Code's settings files are read for their ``permissions`` block into
the matching layer, so teams moving from it keep their rules.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moatcode.config import trust
from moatcode.config.schema import SCHEMA, SECTIONS, check_values, flatten
from moatcode.config.settings import (
    ALL_MODES,
    AgentSettings,
    AuditSettings,
    GatewaySettings,
    ModelSettings,
    PermissionSettings,
    RuleSource,
    SandboxSettings,
    Settings,
    SourceFile,
)
from moatcode.errors import ConfigError, PolicyError

# Keys only the managed layer may set: they loosen or anchor the organisation's policy.
MANAGED_ONLY = frozenset({
    "sandbox.allow_unsandboxed", "audit.required", "model.allowed_endpoints",
    "model.allowed_models", "permissions.allowed_modes", "gateway.policy_pubkey",
    "locked",
})
# Keys that decide where data goes: never from a repository's own files.
NOT_FROM_PROJECT = frozenset({"audit.path", "audit.key_path", "model.api_key_env",
                              "gateway.token_env"})
RULE_KEYS = ("allow", "ask", "deny")

ENV_KEYS: dict[str, tuple[str, type]] = {
    "MOAT_BASE_URL": ("model.base_url", str),
    "MOAT_MODEL": ("model.name", str),
    "MOAT_CONTEXT_WINDOW": ("model.context_window", int),
    "MOAT_MAX_OUTPUT_TOKENS": ("model.max_output_tokens", int),
    "MOAT_MODEL_FILE": ("model.model_file", str),
    "MOAT_TOOL_PROTOCOL": ("model.tool_protocol", str),
    "MOAT_MAX_TURNS": ("agent.max_turns", int),
    "MOAT_MODE": ("permissions.mode", str),
    "MOAT_GATEWAY_URL": ("gateway.url", str),
}
_CLAUDE_MODES = {"default": "default", "acceptEdits": "accept-edits", "plan": "plan",
                 "bypassPermissions": "auto", "dontAsk": "auto"}


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    managed: Path
    claude_managed: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str], home: Path) -> Paths:
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        data_home = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
        return cls(
            config_dir=Path(env.get("MOAT_CONFIG_DIR") or config_home / "moat"),
            data_dir=Path(env.get("MOAT_DATA_DIR") or data_home / "moat"),
            managed=Path(env.get("MOAT_MANAGED_CONFIG") or "/etc/moat/managed.toml"),
            claude_managed=Path(env.get("MOAT_CLAUDE_MANAGED_SETTINGS")
                                or "/etc/claude-code/managed-settings.json"),
        )


@dataclass
class _Layer:
    name: str
    path: Path | None  # None for env and flags
    values: dict[str, Any]
    text: str = ""
    trusted: bool = True
    source: str = ""


@dataclass
class _Merge:
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    rules: list[RuleSource] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def load_settings(
    *,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    flag_rules: Mapping[str, list[str]] | None = None,
    workspace: Path,
    home: Path,
    gateway_policy: GatewayPolicyFetch | None = None,
) -> Settings:
    """Read every layer and return the effective settings.

    When the managed file names a gateway and pins its policy key,
    ``gateway_policy`` fetches the organisation's signed policy, which is
    applied as a second managed layer (it fails closed: no valid policy, no run).

    ``flags`` maps dotted keys (``model.name``) to values given on the command
    line; ``flag_rules`` maps ``allow``/``ask``/``deny`` to rules given there.
    """
    paths = Paths.from_env(env, home)
    trusted = trust.is_trusted(paths.data_dir, workspace)
    layers = list(_read_layers(paths, env, flags, flag_rules or {}, workspace, home, trusted))
    layers.extend(_gateway_layer(layers, env, paths, gateway_policy))
    managed = [layer for layer in layers if layer.name == "managed"]
    locked = frozenset(k for layer in managed for k in layer.values.get("locked", []))
    merge = _Merge()
    for layer in layers:
        _apply(layer, merge, locked, managed_keys={k for m in managed for k in m.values},
               workspace=workspace)
    return _build(merge, paths, workspace, home, locked, layers, trusted, env)


def _read_layers(
    paths: Paths,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    flag_rules: Mapping[str, list[str]],
    workspace: Path,
    home: Path,
    trusted: bool,
) -> Iterator[_Layer]:
    user_file = paths.config_dir / "config.toml"
    yield from _toml_layer("user", user_file, required=False)
    yield from _claude_layer("user", home / ".claude" / "settings.json")
    yield from _toml_layer("project", workspace / ".moat" / "config.toml", trusted=trusted)
    for name in ("settings.json", "settings.local.json"):
        yield from _claude_layer("project", workspace / ".claude" / name, trusted=trusted)
    yield _Layer("env", None, _env_values(env), source="environment")
    flag_values = dict(flags)
    for kind, rules in flag_rules.items():
        if rules:
            flag_values[f"permissions.{kind}"] = list(rules)
    _check_file_values(flag_values, "the command line")
    yield _Layer("flag", None, flag_values, source="command line")
    yield from _claude_layer("managed", paths.claude_managed, fail_closed=True)
    yield from _toml_layer("managed", paths.managed, fail_closed=True)


# (url, token, pinned public key, cache directory, maximum cache age in seconds) -> policy
GatewayPolicyFetch = Callable[[str, "str | None", str, Path, int], Mapping[str, Any]]


def _gateway_layer(layers: list[_Layer], env: Mapping[str, str], paths: Paths,
                   fetch: GatewayPolicyFetch | None) -> Iterator[_Layer]:
    managed: dict[str, Any] = {}
    for layer in layers:
        if layer.name == "managed":
            managed.update(layer.values)
    url, pubkey = managed.get("gateway.url"), managed.get("gateway.policy_pubkey")
    if not url or not pubkey:
        return
    if fetch is None:
        raise PolicyError("The managed policy names a gateway, but this command cannot fetch "
                          "its policy; run moat itself, or ask your administrator.")
    token_env = managed.get("gateway.token_env") or next(
        (layer.values["gateway.token_env"] for layer in reversed(layers)
         if layer.name == "user" and "gateway.token_env" in layer.values),
        "MOAT_GATEWAY_TOKEN")
    max_age = int(managed.get("gateway.policy_cache_max_age_s", 0))
    policy = fetch(url, env.get(token_env) or None, pubkey, paths.data_dir / "gateway", max_age)
    values = flatten(dict(policy))
    where = f"the gateway's policy ({url})"
    _check_file_values(values, where)
    yield _Layer("managed", None, values, source=where)


def _toml_layer(name: str, path: Path, *, required: bool = False, trusted: bool = True,
                fail_closed: bool = False) -> Iterator[_Layer]:
    text = _read_text(path, fail_closed)
    if text is None:
        return
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file.") from exc
    values = flatten(data)
    _check_file_values(values, str(path))
    yield _Layer(name, path, values, text=text, trusted=trusted, source=str(path))


def _claude_layer(name: str, path: Path, *, trusted: bool = True,
                  fail_closed: bool = False) -> Iterator[_Layer]:
    text = _read_text(path, fail_closed)
    if text is None:
        return
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix the file.") from exc
    block = data.get("permissions") if isinstance(data, dict) else None
    if not isinstance(block, dict):
        return
    values: dict[str, Any] = {}
    for kind in RULE_KEYS:
        rules = block.get(kind)
        if rules is None:
            continue
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise PolicyError(f"permissions.{kind} in {path} must be a list of rule strings; "
                              "fix the file.")
        values[f"permissions.{kind}"] = rules
    mode = block.get("defaultMode")
    if isinstance(mode, str) and mode in _CLAUDE_MODES:
        values["permissions.mode"] = _CLAUDE_MODES[mode]
    yield _Layer(name, path, values, text=text, trusted=trusted, source=str(path))


def _read_text(path: Path, fail_closed: bool) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        if fail_closed:
            raise PolicyError(
                f"The managed policy file {path} cannot be read ({exc.__class__.__name__}: "
                f"{getattr(exc, 'strerror', None) or exc}); Moat will not run without it. "
                "Fix its permissions, or ask your administrator."
            ) from exc
        raise ConfigError(f"The settings file {path} cannot be read ({exc}); fix it.") from exc


def _check_file_values(values: Mapping[str, Any], where: str) -> None:
    check_values(values, where)
    for key in values.get("locked", []):
        if key not in SCHEMA and key not in SECTIONS:
            raise ConfigError(f"locked names '{key}' in {where}, which is no setting; "
                              "fix it (docs/configuration.md lists every key).")


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (key, kind) in ENV_KEYS.items():
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[key] = kind(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}; fix or unset "
                              "it.") from exc
    _check_file_values(values, "the environment (MOAT_* variables)")
    return values


def _apply(layer: _Layer, merge: _Merge, locked: frozenset[str], managed_keys: set[str],
           workspace: Path) -> None:
    where = layer.source
    for key, value in layer.values.items():
        section, _, name = key.partition(".")
        if section == "permissions" and name in RULE_KEYS:
            _add_rules(layer, name, value, merge, locked, workspace)
            continue
        if layer.name != "managed":
            why = _refusal(layer, key, locked, managed_keys)
            if why:
                if layer.name == "flag":
                    raise PolicyError(f"{key} cannot be set on the command line: {why}.")
                merge.notices.append(f"Ignoring {key} from {where}: {why}.")
                continue
        merge.values[key] = value
        merge.origins[key] = f"{layer.name} ({where})"


def _refusal(layer: _Layer, key: str, locked: frozenset[str], managed_keys: set[str]) -> str:
    if key in MANAGED_ONLY:
        return "only the managed policy may set it"
    if key in locked or key in managed_keys:
        return "the managed policy fixes it"
    if layer.name == "project" and key in NOT_FROM_PROJECT:
        return "a repository may not choose where data goes"
    if layer.name == "project" and not layer.trusted:
        return "this folder is not trusted; run `moat trust` to use its settings"
    return ""


def _add_rules(layer: _Layer, kind: str, rules: list[str], merge: _Merge,
               locked: frozenset[str], workspace: Path) -> None:
    if layer.name != "managed" and kind != "deny":
        # Deny rules only tighten, so every layer's count; allow and ask may be locked.
        if f"permissions.{kind}" in locked or "permissions" in locked:
            merge.notices.append(f"Ignoring {kind} rules from {layer.source}: the managed "
                                 "policy allows only its own.")
            return
        if layer.name == "project" and not layer.trusted and kind == "allow":
            merge.notices.append(f"Ignoring allow rules from {layer.source}: this folder is "
                                 "not trusted; run `moat trust` to use them.")
            return
    root = workspace if layer.name in ("project", "flag", "env") else (
        layer.path.parent if layer.path else workspace)
    for text in rules:
        merge.rules.append(RuleSource(kind, text, layer.name, layer.source,  # type: ignore[arg-type]
                                      _line_of(layer.text, text), root))


def _line_of(text: str, rule: str) -> int | None:
    """The line of a file on which a rule string is written, for error messages."""
    for quote in ('"', "'"):
        needle = f"{quote}{rule}{quote}"
        index = text.find(needle)
        if index >= 0:
            return text.count("\n", 0, index) + 1
    return None


def _build(merge: _Merge, paths: Paths, workspace: Path, home: Path, locked: frozenset[str],
           layers: list[_Layer], trusted: bool, env: Mapping[str, str]) -> Settings:
    v = merge.values

    def pick(key: str, default: Any) -> Any:
        return v.get(key, default)

    allowed_modes = tuple(pick("permissions.allowed_modes", ALL_MODES))
    mode = pick("permissions.mode", "default")
    if mode not in allowed_modes:
        origin = merge.origins.get("permissions.mode", "")
        message = (f"The managed policy does not allow mode '{mode}'; use one of: "
                   f"{', '.join(allowed_modes)}.")
        if origin.startswith(("flag", "env")):
            raise PolicyError(message)
        merge.notices.append(message)
        mode = "default" if "default" in allowed_modes else allowed_modes[0]
    key_env = pick("model.api_key_env", "MOAT_API_KEY")
    token_env = pick("gateway.token_env", "MOAT_GATEWAY_TOKEN")
    audit_path = pick("audit.path", None)
    key_path = pick("audit.key_path", None)
    files = tuple(SourceFile(layer.name, layer.path, True, layer.trusted)
                  for layer in layers if layer.path is not None)
    return Settings(
        workspace=workspace,
        home=home,
        data_dir=paths.data_dir,
        config_dir=paths.config_dir,
        model=ModelSettings(
            base_url=pick("model.base_url", None),
            name=pick("model.name", None),
            api_key=env.get(key_env) or None,
            context_window=pick("model.context_window", None),
            max_output_tokens=pick("model.max_output_tokens", 4096),
            temperature=pick("model.temperature", None),
            stream=pick("model.stream", True),
            timeout_s=pick("model.timeout_s", 600.0),
            max_retries=pick("model.max_retries", 4),
            tool_protocol=pick("model.tool_protocol", "auto"),
            model_file=pick("model.model_file", None),
            allowed_endpoints=tuple(pick("model.allowed_endpoints", ())),
            allowed_models=tuple(pick("model.allowed_models", ())),
        ),
        agent=AgentSettings(
            max_turns=pick("agent.max_turns", 50),
            compact_at=pick("agent.compact_at", 0.8),
            tool_output_chars=pick("agent.tool_output_chars", 16_000),
        ),
        permissions=PermissionSettings(mode=mode, allowed_modes=allowed_modes,
                                       rules=tuple(merge.rules)),
        sandbox=SandboxSettings(
            network=pick("sandbox.network", "none"),
            allowed_hosts=tuple(pick("sandbox.allowed_hosts", ())),
            command_timeout_s=pick("sandbox.command_timeout_s", 120.0),
            allow_unsandboxed=pick("sandbox.allow_unsandboxed", False),
            max_processes=pick("sandbox.max_processes", 512),
            max_memory_mb=pick("sandbox.max_memory_mb", 4096),
        ),
        audit=AuditSettings(
            path=Path(audit_path).expanduser() if audit_path else None,
            store_requests=pick("audit.store_requests", "full"),
            required=pick("audit.required", True),
            sync=pick("audit.sync", "normal"),
            key_path=Path(key_path).expanduser() if key_path else None,
            checkpoint_every=pick("audit.checkpoint_every", 500),
        ),
        gateway=GatewaySettings(
            url=pick("gateway.url", None),
            token=env.get(token_env) or None,
            policy_pubkey=pick("gateway.policy_pubkey", None),
            policy_cache_max_age_s=pick("gateway.policy_cache_max_age_s", 0),
        ),
        files=files,
        locked=locked,
        origins=dict(merge.origins),
        notices=tuple(merge.notices),
        project_trusted=trusted,
    )
