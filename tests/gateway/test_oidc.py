"""OIDC: JWTs verified against a JWKS (file or internal URL), claims mapped to users."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from moatcode.gateway.config import OidcConfig
from moatcode.gateway.oidc import parse_jwks, verify_jwt
from tests.fake_server import FakeModelServer, Reply
from tests.gateway.conftest import GatewayHarness, model_section
from tests.gateway.test_proxy import chat

NOW = 1_750_000_000.0
ISSUER = "https://idp.internal"
CONFIG = OidcConfig(ISSUER, "moat", None, None, "preferred_username", "team",
                    ("RS256", "ES256", "EdDSA"), 60)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class Signer:
    def __init__(self, alg: str, kid: str) -> None:
        self.alg, self.kid = alg, kid
        if alg == "RS256":
            self.key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self.key.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": b64int(numbers.n), "e": b64int(numbers.e)}
        elif alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
            numbers = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")),
                        "y": b64(numbers.y.to_bytes(32, "big"))}
        else:
            self.key = Ed25519PrivateKey.generate()
            raw = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        self.jwk.update(kid=kid, use="sig")

    def token(self, claims: dict[str, Any] | None = None, header: dict[str, Any] | None = None,
              alg: str | None = None) -> str:
        base_claims = {"iss": ISSUER, "aud": "moat", "exp": NOW + 300, "iat": NOW,
                       "preferred_username": "zoe", "team": "eng"}
        head = {"alg": alg or self.alg, "typ": "JWT", "kid": self.kid, **(header or {})}
        body = {**base_claims, **(claims or {})}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
        return f"{signing_input}.{b64(self.sign(signing_input.encode()))}"

    def sign(self, data: bytes) -> bytes:
        if self.alg == "RS256":
            return bytes(self.key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return bytes(self.key.sign(data))


@pytest.fixture(scope="module")
def signers() -> dict[str, Signer]:
    return {alg: Signer(alg, f"key-{alg}") for alg in ("RS256", "ES256", "EdDSA")}


@pytest.fixture(scope="module")
def keys(signers: dict[str, Signer]) -> Any:
    return parse_jwks({"keys": [s.jwk for s in signers.values()]})


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_each_algorithm_verifies(signers: dict[str, Signer], keys: Any, alg: str) -> None:
    found = verify_jwt(signers[alg].token({"jti": "abc"}), keys, CONFIG, NOW)
    assert found is not None
    assert (found.user, found.team, found.token_id) == ("zoe", "eng", "jwt:abc")


@pytest.mark.parametrize(("claims", "header", "alg"), [
    ({"exp": NOW - 120}, None, None),
    ({"nbf": NOW + 120}, None, None),
    ({"iss": "https://evil"}, None, None),
    ({"aud": "other"}, None, None),
    ({"preferred_username": ""}, None, None),
    ({"team": ["eng"]}, None, None),
    ({"exp": "tomorrow"}, None, None),
    (None, {"crit": ["exp"]}, None),
    (None, {"kid": "unknown"}, None),
    (None, None, "none"),
    (None, None, "HS256"),
    (None, {"kid": "key-ES256"}, None),  # an RS256 header naming the EC key
])
def test_invalid_tokens_are_refused(signers: dict[str, Signer], keys: Any,
                                    claims: Any, header: Any, alg: Any) -> None:
    token = signers["RS256"].token(claims, header, alg)
    assert verify_jwt(token, keys, CONFIG, NOW) is None


def test_audience_lists_and_leeway(signers: dict[str, Signer], keys: Any) -> None:
    token = signers["EdDSA"].token({"aud": ["x", "moat"], "exp": NOW - 30})
    assert verify_jwt(token, keys, CONFIG, NOW) is not None


def test_a_tampered_token_is_refused(signers: dict[str, Signer], keys: Any) -> None:
    head, _, sig = signers["ES256"].token().split(".")
    claims = b64(json.dumps({"iss": ISSUER, "aud": "moat", "exp": NOW + 300,
                             "preferred_username": "admin"}).encode())
    assert verify_jwt(f"{head}.{claims}.{sig}", keys, CONFIG, NOW) is None
    assert verify_jwt("a.b", keys, CONFIG, NOW) is None
    assert verify_jwt("!!.??.**", keys, CONFIG, NOW) is None


def oidc_settings(jwks: dict[str, Any], url: str) -> dict[str, Any]:
    return {"oidc": {"issuer": ISSUER, "audience": "moat", "user_claim": "preferred_username",
                     "team_claim": "team", **jwks, "jwks_min_reload_s": 0},
            "models": {"fake": model_section(url)}}


def real_token(signer: Signer, **claims: Any) -> str:
    now = time.time()
    return signer.token({"exp": now + 300, "iat": now, **claims})


def test_gateway_accepts_jwts_from_a_jwks_file(
    start: Any, tmp_path: Path, signers: dict[str, Signer], fake_model: FakeModelServer
) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [signers["RS256"].jwk]}))
    gw: GatewayHarness = start(oidc_settings({"jwks_file": "jwks.json"}, fake_model.url))
    gw.add_user("someone", "eng", ("fake",))
    gw.identity.add_user("yann", "eng")
    gw.identity.set_disabled("yann", True)
    fake_model.add(Reply(text="hi zoe"))
    with gw.client(real_token(signers["RS256"], jti="j1")) as client:
        assert chat(client).status_code == 200
    for token in (real_token(signers["RS256"], team="nope"),
                  real_token(signers["RS256"], preferred_username="yann"),
                  real_token(signers["ES256"])):
        with gw.client(token) as client:
            assert chat(client).status_code == 401
    first = gw.records(at_least=4)[0]["data"]
    assert (first["user"], first["team"], first["token_id"]) == ("zoe", "eng", "jwt:j1")


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, dict[str, Any]]]:
    document: dict[str, Any] = {"keys": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks", document
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_keys_from_an_internal_url_and_rotation(
    start: Any, signers: dict[str, Signer], fake_model: FakeModelServer,
    jwks_server: tuple[str, dict[str, Any]]
) -> None:
    url, document = jwks_server
    document["keys"] = [signers["EdDSA"].jwk]
    gw: GatewayHarness = start(oidc_settings({"jwks_url": url}, fake_model.url))
    gw.add_user("someone", "eng", ("fake",))
    fake_model.add(Reply(text="one"), Reply(text="two"))
    with gw.client(real_token(signers["EdDSA"])) as client:
        assert chat(client).status_code == 200
    document["keys"] = [signers["EdDSA"].jwk, signers["ES256"].jwk]  # the provider rotates
    with gw.client(real_token(signers["ES256"])) as client:
        assert chat(client).status_code == 200
