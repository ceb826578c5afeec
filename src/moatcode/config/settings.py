"""The effective settings: what the rest of Moat reads, once, at start.

Built by ``load.load_settings`` from the layered files; frozen so nothing can
change them behind the policy's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from moatcode.config.schema import Mode

ALL_MODES: tuple[Mode, ...] = ("default", "accept-edits", "plan", "auto")
RuleKind = Literal["allow", "ask", "deny"]


@dataclass(frozen=True)
class RuleSource:
    """One permission rule as written, with where it was written."""

    kind: RuleKind
    text: str
    layer: str  # managed | flag | project | user
    source: str  # the file, or the flag
    line: int | None
    root: Path  # what a rule path starting with "/" is relative to


@dataclass(frozen=True)
class ModelSettings:
    base_url: str | None = None
    name: str | None = None
    api_key: str | None = None
    context_window: int | None = None
    max_output_tokens: int = 4096
    temperature: float | None = None
    stream: bool = True
    timeout_s: float = 600.0
    max_retries: int = 4
    tool_protocol: Literal["native", "text", "auto"] = "auto"
    model_file: str | None = None
    allowed_endpoints: tuple[str, ...] = ()
    allowed_models: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentSettings:
    max_turns: int = 50
    compact_at: float = 0.8
    tool_output_chars: int = 16_000


@dataclass(frozen=True)
class PermissionSettings:
    mode: Mode = "default"
    allowed_modes: tuple[Mode, ...] = ALL_MODES
    rules: tuple[RuleSource, ...] = ()


@dataclass(frozen=True)
class SandboxSettings:
    network: Literal["none", "allowlist"] = "none"
    allowed_hosts: tuple[str, ...] = ()
    command_timeout_s: float = 120.0
    allow_unsandboxed: bool = False
    max_processes: int = 512
    max_memory_mb: int = 4096


@dataclass(frozen=True)
class AuditSettings:
    path: Path | None = None
    store_requests: Literal["full", "hash"] = "full"
    required: bool = True
    sync: Literal["normal", "full"] = "normal"
    key_path: Path | None = None
    checkpoint_every: int = 500


@dataclass(frozen=True)
class GatewaySettings:
    url: str | None = None
    token: str | None = None
    policy_pubkey: str | None = None
    policy_cache_max_age_s: int = 0


@dataclass(frozen=True)
class SourceFile:
    layer: str
    path: Path
    exists: bool
    trusted: bool = True


@dataclass(frozen=True)
class Settings:
    workspace: Path
    home: Path
    data_dir: Path
    config_dir: Path
    model: ModelSettings = ModelSettings()
    agent: AgentSettings = AgentSettings()
    permissions: PermissionSettings = PermissionSettings()
    sandbox: SandboxSettings = SandboxSettings()
    audit: AuditSettings = AuditSettings()
    gateway: GatewaySettings = GatewaySettings()
    files: tuple[SourceFile, ...] = ()
    locked: frozenset[str] = frozenset()
    # Which layer set each dotted key, for `moat policy show`.
    origins: dict[str, str] = field(default_factory=dict)
    # Things the user should hear once: ignored keys, untrusted folders.
    notices: tuple[str, ...] = ()
    project_trusted: bool = False
