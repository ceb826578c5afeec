"""The gateway's TOML file: defaults, paths relative to it, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from moatcode.errors import ConfigError
from moatcode.gateway.config import (
    GatewayConfig,
    ModelRoute,
    UpstreamSpec,
    load_gateway_config,
)


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return load_gateway_config(path, env or {})


def test_models_aliases_and_relative_paths(tmp_path: Path) -> None:
    config = load(tmp_path, """
[database]
url = "sqlite:///state/gw.db"
[policy]
file = "managed.toml"
[models.qwen]
upstreams = ["http://10.0.0.5:8000/v1", "https://gpu.internal/v1/"]
served_name = "Qwen/Qwen2.5-Coder-32B-Instruct"
aliases = ["default"]
api_key_env = "VLLM_KEY"
""", {"VLLM_KEY": "sekrit"})
    assert config.models == (ModelRoute(
        "qwen", "Qwen/Qwen2.5-Coder-32B-Instruct",
        (UpstreamSpec("http://10.0.0.5:8000/v1", "http", "10.0.0.5", 8000, "/v1"),
         UpstreamSpec("https://gpu.internal/v1", "https", "gpu.internal", 443, "/v1")),
        ("default",), "sekrit"),)
    assert config.database_url == f"sqlite:///{tmp_path}/state/gw.db"
    assert config.policy_file == tmp_path / "managed.toml"
    assert config.token_hash_key == tmp_path / "token-hash.key"
    assert config.resolve_model("default") == config.models[0]
    assert config.resolve_model("Qwen/Qwen2.5-Coder-32B-Instruct") is None
    assert (config.port, config.store_bodies, config.fail_open) == (8080, True, False)


@pytest.mark.parametrize(("text", "message"), [
    ("[server]\nprot = 1\n", "Unknown setting 'server.prot'"),
    ("[server]\nport = 99999\n", "Bad value for 'server.port'"),
    ('[models.a]\nupstreams = ["ftp://x/v1"]\n', "models.a.upstreams"),
    ('[models.a]\nupstreams = []\n', "models.a.upstreams"),
    ('[models.a]\nupstreams = ["http://x/v1"]\naliases = ["b"]\n'
     '[models.b]\nupstreams = ["http://x/v1"]\n', "'b' appears twice"),
    ('[models.a]\nupstreams = ["http://x/v1"]\napi_key_env = "NOPE"\n', "NOPE"),
    ('[oidc]\nissuer = "i"\naudience = "a"\n', "exactly one of jwks_file and jwks_url"),
    ('[upstream]\nhealth_path = "health"\n', "health_path"),
    ("not toml [", "not valid TOML"),
])
def test_errors_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load(tmp_path, text)
    assert str(tmp_path / "gateway.toml") in str(error.value)


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="moat gateway init|docs/gateway.md"):
        load_gateway_config(tmp_path / "absent.toml", {})


def test_admin_commands_do_not_need_upstream_keys(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[models.a]\nupstreams = ["http://x/v1"]\napi_key_env = "NOPE"\n')
    config = load_gateway_config(path, {}, need_upstream_keys=False)
    assert config.models[0].api_key is None
