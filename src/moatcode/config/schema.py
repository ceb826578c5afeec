"""The shape of a settings file, checked with pydantic at the boundary.

Every key is optional in a file; unknown keys are errors that name the key and
the file. ``Settings`` (in ``settings.py``) is what the rest of Moat reads.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["default", "accept-edits", "plan", "auto"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Section):
    base_url: str | None = None
    name: str | None = None
    # The name of the environment variable that holds the key, never the key itself.
    api_key_env: str | None = None
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0, le=20)
    tool_protocol: Literal["native", "text", "auto"] | None = None
    model_file: str | None = None
    allowed_endpoints: list[str] | None = None
    allowed_models: list[str] | None = None


class AgentSection(_Section):
    max_turns: int | None = Field(default=None, gt=0)
    # Start compacting when the prompt passes this share of the context window.
    compact_at: float | None = Field(default=None, gt=0.1, lt=1.0)
    tool_output_chars: int | None = Field(default=None, ge=1000)


class PermissionsSection(_Section):
    mode: Mode | None = None
    allowed_modes: list[Mode] | None = None
    allow: list[str] | None = None
    ask: list[str] | None = None
    deny: list[str] | None = None


class SandboxSection(_Section):
    network: Literal["none", "allowlist"] | None = None
    allowed_hosts: list[str] | None = None
    command_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    allow_unsandboxed: bool | None = None
    max_processes: int | None = Field(default=None, gt=8)
    max_memory_mb: int | None = Field(default=None, gt=64)


class AuditSection(_Section):
    path: str | None = None
    store_requests: Literal["full", "hash"] | None = None
    required: bool | None = None
    # "normal": a crash of Moat loses nothing; "full": also a power cut (fsync per record).
    sync: Literal["normal", "full"] | None = None
    key_path: str | None = None
    checkpoint_every: int | None = Field(default=None, gt=0)


class GatewaySection(_Section):
    url: str | None = None
    token_env: str | None = None
    policy_pubkey: str | None = None
    policy_cache_max_age_s: int | None = Field(default=None, ge=0)


class SettingsFile(_Section):
    model: ModelSection = ModelSection()
    agent: AgentSection = AgentSection()
    permissions: PermissionsSection = PermissionsSection()
    sandbox: SandboxSection = SandboxSection()
    audit: AuditSection = AuditSection()
    gateway: GatewaySection = GatewaySection()
    # Only honoured in the managed file: dotted keys no lower layer may change.
    locked: list[str] | None = None
