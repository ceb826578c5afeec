"""A real ``moat -p`` run configured with a gateway: signed policy enforced, log shipped.

These drive the ``moat`` command as a subprocess, talking to the model only
through the gateway, which fronts the scripted fake model server. They need
the CLI to fetch the policy the managed file's ``[gateway]`` section names
and to ship the audit log (``moatcode.gateway.agent_link``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from moatcode.audit.store import AuditStore
from moatcode.gateway.policy_doc import public_key_text
from tests.fake_server import Call, FakeModelServer, Reply
from tests.gateway.conftest import GatewayHarness, free_port, model_section

pytestmark = pytest.mark.e2e

MOAT = Path(sys.executable).parent / "moat"
GATEWAY_POLICY = 'permissions.deny = ["Read(notes.txt)"]\n'


def run_moat(tmp_path: Path, gateway_url: str, token: str, pubkey: str,
             prompt: str = "read notes.txt") -> subprocess.CompletedProcess[str]:
    home, repo = tmp_path / "home", tmp_path / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    home.mkdir(exist_ok=True)
    (repo / "notes.txt").write_text("the secret plan\n")
    managed = tmp_path / "managed.toml"
    managed.write_text(
        f'[gateway]\nurl = "{gateway_url}/v1"\npolicy_pubkey = "{pubkey}"\n'
        f'policy_cache_max_age_s = 0\n[model]\nbase_url = "{gateway_url}/v1"\n')
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "MOAT_MANAGED_CONFIG": str(managed),
           "MOAT_GATEWAY_TOKEN": token, "MOAT_API_KEY": token, "MOAT_MODEL": "fake",
           "MOAT_TOOL_PROTOCOL": "native"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([str(MOAT), "-p", prompt, "--output-format", "json"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=120)


def test_an_unreachable_gateway_means_no_run(tmp_path: Path) -> None:
    """Fail closed: the managed file names a gateway that does not answer."""
    pubkey = "ed25519:" + "11" * 32
    done = run_moat(tmp_path, f"http://127.0.0.1:{free_port()}", "t", pubkey, prompt="probe")
    assert done.returncode == 2
    assert "valid policy from the gateway" in done.stderr


@pytest.fixture
def gw(start: Any, tmp_path: Path, fake_model: FakeModelServer) -> GatewayHarness:
    (tmp_path / "gw").mkdir()
    (tmp_path / "gw" / "managed.toml").write_text(GATEWAY_POLICY)
    harness: GatewayHarness = start({"policy": {"file": "managed.toml"},
                                     "models": {"fake": model_section(fake_model.url)}},
                                    tmp_path / "gw")
    harness.add_user("alice", "eng", ("fake",))
    return harness


def pubkey_of(gw: GatewayHarness) -> str:
    return public_key_text(gw.runtime.signing_key.public_key())


def test_the_gateway_policy_is_enforced_in_a_real_run(
    gw: GatewayHarness, fake_model: FakeModelServer, tmp_path: Path
) -> None:
    def saw_denial(body: dict[str, Any]) -> None:
        tool = [m for m in body["messages"] if m["role"] == "tool"]
        assert tool and "the secret plan" not in tool[-1]["content"]

    fake_model.add(Reply(tool_calls=[Call("read_file", {"path": "notes.txt"})]),
                   Reply(text="I may not read it.", expect=saw_denial))
    done = run_moat(tmp_path / "run", gw.url, gw.tokens["alice"], pubkey_of(gw))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [d["tool_name"] for d in result["permission_denials"]] == ["read_file"]
    requests = [r["data"] for r in gw.records(at_least=3)
                if r["data"]["route"] == "/v1/chat/completions"]
    assert [(r["user"], r["status"]) for r in requests] == [("alice", 200), ("alice", 200)]


def test_moat_refuses_to_run_without_a_valid_policy(
    gw: GatewayHarness, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = public_key_text(Ed25519PrivateKey.generate().public_key())
    forged = run_moat(tmp_path / "a", gw.url, gw.tokens["alice"], other)
    assert forged.returncode == 2
    assert "signature does not verify" in forged.stderr
    revoked = run_moat(tmp_path / "b", gw.url, "moat_000000000000_" + "A" * 43, pubkey_of(gw))
    assert revoked.returncode == 2
    assert "HTTP 401" in revoked.stderr


def test_the_run_ships_its_audit_log_to_the_gateway(
    gw: GatewayHarness, fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.add(Reply(text="Nothing to do."))
    done = run_moat(tmp_path / "run", gw.url, gw.tokens["alice"], pubkey_of(gw), "hello")
    assert done.returncode == 0, done.stderr
    shipped = gw.records("user:alice", at_least=1)
    store = tmp_path / "run" / "home" / ".local" / "share" / "moat" / "audit.db"
    with AuditStore.open_readonly(store) as local:
        expected = [r.to_dict() for r in local.records()]
    assert [r["data"]["record"] for r in shipped] == expected
    assert {r["data"]["check"] for r in shipped} == {"ok"}
