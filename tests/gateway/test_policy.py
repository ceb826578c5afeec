"""The signed managed policy: served by the gateway, verified and cached by the agent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.errors import PolicyError
from moatcode.gateway.agent_link import fetch_policy, fetch_policy_document
from moatcode.gateway.policy_doc import (
    BadPolicy,
    parse_public_key,
    public_key_text,
    sign_policy,
    verify_policy,
)
from tests.gateway.conftest import POLICY_TOML, GatewayHarness, free_port

POLICY = {"permissions": {"deny": ["Bash(curl *)"]}, "sandbox": {"network": "none"}}


@pytest.fixture
def gw(start: Any, tmp_path: Path) -> GatewayHarness:
    (tmp_path / "managed.toml").write_text(POLICY_TOML)
    harness: GatewayHarness = start({"policy": {"file": "managed.toml"}})
    harness.add_user("alice", "eng")
    return harness


def pinned(gw: GatewayHarness) -> str:
    return public_key_text(gw.runtime.signing_key.public_key())


def test_the_gateway_serves_a_signed_policy_the_agent_verifies(
    gw: GatewayHarness, tmp_path: Path
) -> None:
    policy = fetch_policy(gw.url, gw.tokens["alice"], pinned(gw), tmp_path / "cache", 0)
    assert policy == POLICY
    with gw.client(gw.tokens["alice"]) as client:
        document = client.get("/v1/policy").json()
    assert verify_policy(document, gw.runtime.signing_key.public_key()).policy == POLICY
    assert gw.records()[-1]["data"]["route"] == "/v1/policy"


def test_a_policy_signed_by_another_key_is_refused(gw: GatewayHarness, tmp_path: Path) -> None:
    other = public_key_text(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(PolicyError, match="signature does not verify"):
        fetch_policy(gw.url, gw.tokens["alice"], other, tmp_path, 0)


def test_a_bad_token_or_no_gateway_fails_closed(gw: GatewayHarness, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="refused the token with HTTP 401"):
        fetch_policy(gw.url, "moat_nope", pinned(gw), tmp_path, 0)
    with pytest.raises(PolicyError, match="no answer"):
        fetch_policy(f"http://127.0.0.1:{free_port()}", "x", pinned(gw), tmp_path, 3600)


def test_a_cached_copy_serves_offline_work_up_to_its_maximum_age(
    gw: GatewayHarness, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fresh = fetch_policy_document(gw.url, gw.tokens["alice"], pinned(gw), cache, 3600)
    assert fresh.source == "gateway"
    gw.server.stop()
    offline = fetch_policy_document(gw.url, gw.tokens["alice"], pinned(gw), cache, 3600)
    assert (offline.source, offline.policy) == ("cache", POLICY)
    def later() -> datetime:
        return datetime.now(UTC) + timedelta(hours=2)

    with pytest.raises(PolicyError, match="no cached copy is recent enough"):
        fetch_policy(gw.url, gw.tokens["alice"], pinned(gw), cache, 3600, clock=later)
    with pytest.raises(PolicyError):
        fetch_policy(gw.url, gw.tokens["alice"], pinned(gw), cache, 0)


def test_a_tampered_cache_is_no_cache(gw: GatewayHarness, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fetch_policy(gw.url, gw.tokens["alice"], pinned(gw), cache, 3600)
    [path] = cache.glob("gateway-policy-*.json")
    document = json.loads(path.read_text())
    document["payload"] = document["payload"].replace("curl", "wget")
    path.write_text(json.dumps(document))
    with pytest.raises(PolicyError):
        fetch_policy(f"http://127.0.0.1:{free_port()}", "x", pinned(gw), cache, 3600)


def test_no_policy_configured_is_404(start: Any, tmp_path: Path) -> None:
    gw = start()
    token = gw.add_user("alice", "eng")
    with gw.client(token) as client:
        assert client.get("/v1/policy").status_code == 404
    with pytest.raises(PolicyError, match="HTTP 404"):
        fetch_policy(gw.url, token, pinned(gw), tmp_path, 0)


def test_sign_and_verify_round_trip_and_refusals() -> None:
    key = Ed25519PrivateKey.generate()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    document = sign_policy(POLICY, key, issuer="gw", issued_at=now)
    verified = verify_policy(document, key.public_key())
    assert (verified.policy, verified.issued_at, verified.issuer) == (POLICY, now, "gw")
    for broken in (
        {**document, "signature": "00" * 64},
        {**document, "alg": "rsa"},
        {**document, "payload": document["payload"] + " "},
        "not an object",
    ):
        with pytest.raises(BadPolicy):
            verify_policy(broken, key.public_key())
    invalid = sign_policy({"permissions": {"nonsense": 1}}, key, issuer="gw", issued_at=now)
    with pytest.raises(BadPolicy, match="not valid"):
        verify_policy(invalid, key.public_key())


def test_pinned_keys_in_every_accepted_form(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (tmp_path / "k.pub").write_text(pem)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for form in (public_key_text(key), pem, str(tmp_path / "k.pub")):
        parsed = parse_public_key(form)
        assert parsed.public_bytes(serialization.Encoding.Raw,
                                   serialization.PublicFormat.Raw) == raw
    with pytest.raises(PolicyError):
        fetch_policy("http://127.0.0.1:1", "t", "ed25519:zz", tmp_path, 0)
