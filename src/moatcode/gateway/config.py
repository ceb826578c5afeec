"""The gateway's one TOML file, checked at the boundary and turned into frozen settings.

Relative paths in the file are relative to the file's own directory, so a
directory holding ``gateway.toml`` and its keys can be moved as a whole.
Upstream API keys are never written in the file: a model names the
environment variable that holds its key, and the caller passes the
environment in (library code never reads it).

Unknown keys are errors naming the key and the file, as for Moat's own
settings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from moatcode.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/moat/gateway.toml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Server(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    name: str = "moat-gateway"
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    graceful_timeout_s: float = Field(default=120.0, gt=0)
    access_log: bool = True


class _Database(_Section):
    url: str = "sqlite:///gateway.db"
    fail_open: bool = False
    pool_size: int = Field(default=5, ge=1, le=100)


class _Audit(_Section):
    store_bodies: bool = True
    flush_interval_ms: int = Field(default=50, ge=1, le=10_000)
    max_pending: int = Field(default=10_000, ge=1)
    checkpoint_every: int = Field(default=1000, ge=1)
    max_batch_records: int = Field(default=1000, ge=1, le=10_000)


class _Keys(_Section):
    token_hash_key: str = "token-hash.key"
    signing_key: str = "signing.key"


class _Identity(_Section):
    # How often each replica reloads users, teams and tokens; 0 reads the database per request.
    refresh_s: float = Field(default=5.0, ge=0)
    usage_refresh_s: float = Field(default=1.0, gt=0)


class _Oidc(_Section):
    issuer: str
    audience: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    user_claim: str = "sub"
    team_claim: str | None = None
    algorithms: list[Literal["RS256", "ES256", "EdDSA"]] = ["RS256", "ES256", "EdDSA"]
    leeway_s: int = Field(default=60, ge=0, le=600)
    # A token naming an unknown key reloads the key set, at most this often.
    jwks_min_reload_s: float = Field(default=30.0, ge=0)


class _Policy(_Section):
    file: str | None = None


class _Upstream(_Section):
    connect_timeout_s: float = Field(default=5.0, gt=0)
    first_byte_timeout_s: float = Field(default=600.0, gt=0)
    read_timeout_s: float = Field(default=300.0, gt=0)
    health_path: str = "/health"
    health_interval_s: float = Field(default=5.0, gt=0)
    health_timeout_s: float = Field(default=2.0, gt=0)
    max_idle_connections: int = Field(default=256, ge=0)
    ca_file: str | None = None


class _Model(_Section):
    upstreams: list[str] = Field(min_length=1)
    served_name: str | None = None
    aliases: list[str] = []
    api_key_env: str | None = None


class GatewayFile(_Section):
    server: _Server = _Server()
    database: _Database = _Database()
    audit: _Audit = _Audit()
    keys: _Keys = _Keys()
    identity: _Identity = _Identity()
    oidc: _Oidc | None = None
    policy: _Policy = _Policy()
    upstream: _Upstream = _Upstream()
    models: dict[str, _Model] = {}


@dataclass(frozen=True)
class UpstreamSpec:
    """One model server: ``url`` is its OpenAI base URL, e.g. ``http://10.0.0.5:8000/v1``."""

    url: str
    scheme: Literal["http", "https"]
    host: str
    port: int
    base_path: str  # "/v1"

    @property
    def chat_path(self) -> str:
        return f"{self.base_path}/chat/completions"

    @classmethod
    def parse(cls, url: str) -> UpstreamSpec:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise ValueError(f"{url!r} must not have a query string or fragment")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
        return cls(url.rstrip("/"), scheme, parts.hostname, port, parts.path.rstrip("/"))


@dataclass(frozen=True)
class ModelRoute:
    """A model the gateway serves: its name, the name upstream knows, where it runs."""

    name: str
    served_name: str
    upstreams: tuple[UpstreamSpec, ...]
    aliases: tuple[str, ...] = ()
    api_key: str | None = None


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_file: Path | None
    jwks_url: str | None
    user_claim: str
    team_claim: str | None
    algorithms: tuple[str, ...]
    leeway_s: int
    jwks_min_reload_s: float = 30.0


@dataclass(frozen=True)
class UpstreamSettings:
    connect_timeout_s: float = 5.0
    first_byte_timeout_s: float = 600.0
    read_timeout_s: float = 300.0
    health_path: str = "/health"
    health_interval_s: float = 5.0
    health_timeout_s: float = 2.0
    max_idle_connections: int = 256
    ca_file: Path | None = None


@dataclass(frozen=True)
class GatewayConfig:
    path: Path
    host: str
    port: int
    name: str
    max_body_bytes: int
    graceful_timeout_s: float
    access_log: bool
    database_url: str
    fail_open: bool
    pool_size: int
    store_bodies: bool
    flush_interval_s: float
    max_pending: int
    checkpoint_every: int
    max_batch_records: int
    token_hash_key: Path
    signing_key: Path
    identity_refresh_s: float
    usage_refresh_s: float
    oidc: OidcConfig | None
    policy_file: Path | None
    upstream: UpstreamSettings
    models: tuple[ModelRoute, ...]

    def resolve_model(self, requested: str) -> ModelRoute | None:
        for route in self.models:
            if requested == route.name or requested in route.aliases:
                return route
        return None


def load_gateway_config(
    path: Path, env: Mapping[str, str], *, need_upstream_keys: bool = True
) -> GatewayConfig:
    """Read and check the gateway's TOML file; ``env`` supplies upstream API keys.

    Admin commands pass ``need_upstream_keys=False``: they never call a model server.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"There is no gateway config at {path}; create one (docs/gateway.md has an "
            "example), or pass --config."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The gateway config {path} cannot be read ({exc}); fix it.") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file.") from exc
    return parse_gateway_config(data, path, env, need_upstream_keys=need_upstream_keys)


def parse_gateway_config(
    data: Mapping[str, object], path: Path, env: Mapping[str, str], *,
    need_upstream_keys: bool = True,
) -> GatewayConfig:
    """Check already-parsed TOML ``data`` as if read from ``path``."""
    try:
        file = GatewayFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden":
            raise ConfigError(
                f"Unknown setting '{key}' in {path}; remove it or fix its spelling "
                "(docs/gateway.md lists every key)."
            ) from exc
        raise ConfigError(f"Bad value for '{key}' in {path}: {error['msg']}; fix it.") from exc
    base = path.parent
    routes = tuple(_route(name, model, path, env, need_upstream_keys)
                   for name, model in file.models.items())
    _check_names(routes, path)
    oidc = None
    if file.oidc is not None:
        o = file.oidc
        if (o.jwks_file is None) == (o.jwks_url is None):
            raise ConfigError(
                f"[oidc] in {path} needs exactly one of jwks_file and jwks_url; set one."
            )
        oidc = OidcConfig(
            o.issuer, o.audience, _path(base, o.jwks_file), o.jwks_url, o.user_claim,
            o.team_claim, tuple(o.algorithms), o.leeway_s, o.jwks_min_reload_s,
        )
    up = file.upstream
    if not up.health_path.startswith("/"):
        raise ConfigError(f"upstream.health_path in {path} must start with '/'; fix it.")
    return GatewayConfig(
        path=path,
        host=file.server.host,
        port=file.server.port,
        name=file.server.name,
        max_body_bytes=file.server.max_body_bytes,
        graceful_timeout_s=file.server.graceful_timeout_s,
        access_log=file.server.access_log,
        database_url=_database_url(file.database.url, base),
        fail_open=file.database.fail_open,
        pool_size=file.database.pool_size,
        store_bodies=file.audit.store_bodies,
        flush_interval_s=file.audit.flush_interval_ms / 1000,
        max_pending=file.audit.max_pending,
        checkpoint_every=file.audit.checkpoint_every,
        max_batch_records=file.audit.max_batch_records,
        token_hash_key=base / file.keys.token_hash_key,
        signing_key=base / file.keys.signing_key,
        identity_refresh_s=file.identity.refresh_s,
        usage_refresh_s=file.identity.usage_refresh_s,
        oidc=oidc,
        policy_file=_path(base, file.policy.file),
        upstream=UpstreamSettings(
            up.connect_timeout_s, up.first_byte_timeout_s, up.read_timeout_s, up.health_path,
            up.health_interval_s, up.health_timeout_s, up.max_idle_connections,
            _path(base, up.ca_file),
        ),
        models=routes,
    )


def _path(base: Path, value: str | None) -> Path | None:
    return None if value is None else base / Path(value).expanduser()


def _database_url(url: str, base: Path) -> str:
    # sqlite:///relative.db is relative to the config file, like every other path in it.
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
        return prefix + str(base / url[len(prefix):])
    return url


def _route(
    name: str, model: _Model, path: Path, env: Mapping[str, str], need_key: bool
) -> ModelRoute:
    specs = []
    for url in model.upstreams:
        try:
            specs.append(UpstreamSpec.parse(url))
        except ValueError as exc:
            raise ConfigError(f"models.{name}.upstreams in {path}: {exc}; fix it.") from exc
    key = None
    if model.api_key_env is not None:
        key = env.get(model.api_key_env) or None
        if key is None and need_key:
            raise ConfigError(
                f"models.{name}.api_key_env in {path} names {model.api_key_env}, which is "
                "not set; set it to the model server's key."
            )
    return ModelRoute(name, model.served_name or name, tuple(specs), tuple(model.aliases), key)


def _check_names(routes: tuple[ModelRoute, ...], path: Path) -> None:
    seen: set[str] = set()
    for route in routes:
        for name in (route.name, *route.aliases):
            if name in seen:
                raise ConfigError(
                    f"The model name or alias {name!r} appears twice in {path}; "
                    "give each model and alias one meaning."
                )
            seen.add(name)
