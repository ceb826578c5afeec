"""OpenID Connect: verifying a JWT against a JWKS, and mapping its claims to a user.

The identity provider's public keys come from a JWKS file or an internal URL
(never the provider's discovery document: the gateway opens no connection it
was not told about). Only asymmetric algorithms are accepted (RS256, ES256,
EdDSA), the algorithm must match the key's type, and ``none``, HMAC and
``crit`` headers are refused, which closes the classic JWT confusions.
Signatures are checked with ``cryptography``.

A token passes when its signature verifies, ``iss`` is the configured issuer,
``aud`` holds the configured audience, ``exp`` is in the future and ``nbf`` (if
present) in the past, give or take ``leeway_s``. Any failure is the same
``None``: the client hears only 401.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from moatcode.errors import ConfigError
from moatcode.gateway.config import OidcConfig

log = logging.getLogger(__name__)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey
_KEY_TYPES: dict[str, type] = {
    "RS256": rsa.RSAPublicKey,
    "ES256": ec.EllipticCurvePublicKey,
    "EdDSA": Ed25519PublicKey,
}
_MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class OidcIdentity:
    user: str
    team: str | None
    token_id: str


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("moat_")


def parse_jwks(data: Any) -> dict[str, PublicKey]:
    """The usable keys of a JWKS document, by ``kid`` ("" for a key without one)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS is an object with a 'keys' list")
    keys: dict[str, PublicKey] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            key = _jwk_key(jwk)
        except (ValueError, TypeError, KeyError, binascii.Error):
            log.warning("ignoring an unreadable key in the JWKS (kid %r)", jwk.get("kid"))
            continue
        if key is not None:
            keys[str(jwk.get("kid", ""))] = key
    return keys


def _jwk_key(jwk: Mapping[str, Any]) -> PublicKey | None:
    kty = jwk.get("kty")
    if kty == "RSA":
        n, e = _b64int(jwk["n"]), _b64int(jwk["e"])
        if n.bit_length() < _MIN_RSA_BITS:
            raise ValueError("RSA key too short")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if kty == "EC" and jwk.get("crv") == "P-256":
        x, y = _b64int(jwk["x"]), _b64int(jwk["y"])
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return Ed25519PublicKey.from_public_bytes(_b64(jwk["x"]))
    return None


def _b64(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("base64url text expected")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64int(text: str) -> int:
    return int.from_bytes(_b64(text), "big")


def verify_jwt(
    token: str, keys: Mapping[str, PublicKey], config: OidcConfig, now: float
) -> OidcIdentity | None:
    """The identity in ``token`` if it is valid by every rule above, else None."""
    try:
        return _verify(token, keys, config, now)
    except (ValueError, TypeError, KeyError, binascii.Error, InvalidSignature,
            UnicodeDecodeError) as exc:
        log.debug("JWT refused: %s", type(exc).__name__)
        return None


def _verify(
    token: str, keys: Mapping[str, PublicKey], config: OidcConfig, now: float
) -> OidcIdentity | None:
    head_b64, body_b64, sig_b64 = token.split(".")
    header = json.loads(_b64(head_b64))
    if not isinstance(header, dict) or "crit" in header:
        return None
    alg = header.get("alg")
    if alg not in config.algorithms or alg not in _KEY_TYPES:
        return None
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else (
        next(iter(keys.values())) if len(keys) == 1 else None)
    if key is None or not isinstance(key, _KEY_TYPES[alg]):
        return None
    signing_input = f"{head_b64}.{body_b64}".encode("ascii")
    _check_signature(alg, key, _b64(sig_b64), signing_input)
    claims = json.loads(_b64(body_b64))
    if not isinstance(claims, dict) or not _claims_ok(claims, config, now):
        return None
    user = claims.get(config.user_claim)
    if not isinstance(user, str) or not user:
        return None
    team = claims.get(config.team_claim) if config.team_claim else None
    if team is not None and (not isinstance(team, str) or not team):
        return None
    jti = claims.get("jti")
    ident = jti if isinstance(jti, str) and 0 < len(jti) <= 64 else (
        hashlib.sha256(token.encode()).hexdigest()[:16])
    return OidcIdentity(user, team, f"jwt:{ident}")


def _check_signature(alg: str, key: PublicKey, signature: bytes, data: bytes) -> None:
    if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
        if len(signature) != 64:
            raise ValueError("ES256 signatures are 64 bytes")
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    elif alg == "EdDSA" and isinstance(key, Ed25519PublicKey):
        key.verify(signature, data)
    else:
        raise ValueError("algorithm and key do not match")


def _claims_ok(claims: Mapping[str, Any], config: OidcConfig, now: float) -> bool:
    leeway = config.leeway_s
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or now >= exp + leeway:
        return False
    if nbf is not None and (
        not isinstance(nbf, int | float) or isinstance(nbf, bool) or now < nbf - leeway
    ):
        return False
    if claims.get("iss") != config.issuer:
        return False
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return config.audience in audiences


Fetch = Callable[[str], bytes]


class JwksSource:
    """The identity provider's keys, from a file or an internal URL, refreshed on a new ``kid``.

    A token naming a ``kid`` not yet known triggers one reload, at most every
    ``min_reload_s``, so a key rotation is picked up without letting a flood of
    made-up ``kid`` values hammer the provider.
    """

    def __init__(self, config: OidcConfig, fetch: Fetch, *, min_reload_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._fetch = fetch
        self._min_reload_s = min_reload_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, PublicKey] = {}
        self._loaded_at: float | None = None

    def load(self) -> dict[str, PublicKey]:
        where = str(self._config.jwks_file or self._config.jwks_url)
        try:
            if self._config.jwks_file is not None:
                raw = self._config.jwks_file.read_bytes()
            else:
                assert self._config.jwks_url is not None
                raw = self._fetch(self._config.jwks_url)
            keys = parse_jwks(json.loads(raw))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"The OIDC key set {where} cannot be read ({exc}); fix oidc.jwks_file or "
                "oidc.jwks_url."
            ) from exc
        with self._lock:
            self._keys = keys
            self._loaded_at = self._clock()
        return keys

    def keys(self) -> dict[str, PublicKey]:
        with self._lock:
            return self._keys

    def needs_reload(self, token: str) -> bool:
        """True when ``token`` names a key not held and a reload is allowed now."""
        try:
            header = json.loads(_b64(token.split(".", 1)[0]))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            return False
        kid = header.get("kid") if isinstance(header, dict) else None
        with self._lock:
            if not isinstance(kid, str) or kid in self._keys:
                return False
            due = self._loaded_at is None or self._clock() - self._loaded_at >= self._min_reload_s
            if due:
                self._loaded_at = self._clock()
            return due
