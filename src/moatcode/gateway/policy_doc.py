"""The signed managed-policy document: how the gateway signs it and an agent checks it.

The document is the organisation's managed policy (the same keys as
``/etc/moat/managed.toml``, checked against ``moatcode.config.schema``) with
who issued it and when, as canonical JSON; the signature is Ed25519 over
``moat-policy:1:`` followed by those bytes. The payload travels as a string,
so the agent verifies the exact bytes that were signed before parsing them:

    {"alg": "ed25519", "key_id": "<16 hex>", "signature": "<128 hex>",
     "payload": "{\\"issued_at\\":\\"...\\",\\"issuer\\":\\"...\\",\\"policy\\":{...},\\"v\\":1}"}

``issued_at`` is signed, so the age of a cached copy cannot be faked by
touching the file. No FastAPI or SQLAlchemy here: agents import this module.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from moatcode.audit.canonical import canonical_text
from moatcode.audit.checkpoint import key_id
from moatcode.config.schema import check_document
from moatcode.errors import ConfigError

CONTEXT = b"moat-policy:1:"
FORMAT_VERSION = 1
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class BadPolicy(ValueError):
    """A signed policy document that must not be used; the message says why."""


@dataclass(frozen=True)
class VerifiedPolicy:
    policy: dict[str, Any]
    issued_at: datetime
    issuer: str
    key_id: str


def load_policy_file(path: Path) -> dict[str, Any]:
    """The managed policy TOML at ``path``, checked against Moat's settings schema."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"The policy file {path} cannot be read ({exc}); fix policy.file.") \
            from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The policy file {path} is not valid TOML ({exc}); fix it.") from exc
    problem = check_policy(data)
    if problem:
        raise ConfigError(f"The policy file {path} is not a valid managed policy ({problem}); "
                          "fix it.")
    return data


def check_policy(data: Any) -> str:
    """Why ``data`` is not a valid managed-policy document, or "" if it is."""
    try:
        check_document(data, "the policy document")
    except ConfigError as exc:
        return str(exc)
    return ""


def sign_policy(
    policy: dict[str, Any], key: Ed25519PrivateKey, *, issuer: str, issued_at: datetime
) -> dict[str, str]:
    payload = canonical_text({
        "v": FORMAT_VERSION, "issuer": issuer, "policy": policy,
        "issued_at": issued_at.astimezone(UTC).strftime(_TIME),
    })
    signature = key.sign(CONTEXT + payload.encode("utf-8"))
    return {"alg": "ed25519", "key_id": key_id(key.public_key()), "payload": payload,
            "signature": signature.hex()}


def verify_policy(document: Any, public_key: Ed25519PublicKey) -> VerifiedPolicy:
    """Check a signed document against the pinned key; raises ``BadPolicy`` saying why."""
    if not isinstance(document, dict):
        raise BadPolicy("it is not a JSON object")
    payload, signature = document.get("payload"), document.get("signature")
    if document.get("alg") != "ed25519" or not isinstance(payload, str) \
            or not isinstance(signature, str):
        raise BadPolicy("it is not an Ed25519-signed policy document")
    try:
        public_key.verify(bytes.fromhex(signature), CONTEXT + payload.encode("utf-8"))
    except (ValueError, InvalidSignature) as exc:
        raise BadPolicy("its signature does not verify with the pinned public key") from exc
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise BadPolicy("its payload is not JSON") from exc
    if not isinstance(body, dict) or body.get("v") != FORMAT_VERSION:
        raise BadPolicy("its format version is unknown to this Moat")
    policy, issued, issuer = body.get("policy"), body.get("issued_at"), body.get("issuer")
    if not isinstance(policy, dict) or not isinstance(issued, str) or not isinstance(issuer, str):
        raise BadPolicy("its payload is missing the policy, issuer or time")
    problem = check_policy(policy)
    if problem:
        raise BadPolicy(f"the policy it carries is not valid ({problem})")
    try:
        issued_at = datetime.strptime(issued, _TIME).replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadPolicy("its issue time is malformed") from exc
    return VerifiedPolicy(policy, issued_at, issuer, key_id(public_key))


# -- keys ------------------------------------------------------------------------


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise ConfigError(f"The gateway signing key {path} does not exist; run moat gateway "
                          "init, or set keys.signing_key.") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"The gateway signing key {path} cannot be read ({exc}); fix it or "
                          "set keys.signing_key.") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"The gateway signing key {path} is not an Ed25519 key; run moat "
                          "gateway init with a fresh keys.signing_key path.")
    return key


def create_signing_key(path: Path) -> bool:
    """Create an Ed25519 key at ``path`` (0600) and its ``.pub``; False if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path(path).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return True


def public_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + ".pub")


def public_key_text(key: Ed25519PublicKey) -> str:
    """The form to paste into an agent's managed file: ``ed25519:<64 hex>``."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + raw.hex()


def parse_public_key(value: str) -> Ed25519PublicKey:
    """A pinned key given as ``ed25519:<hex>``, PEM text, or the path of a PEM file."""
    text = value.strip()
    try:
        if text.startswith("ed25519:"):
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text[8:]))
        data = text.encode() if "-----BEGIN" in text else Path(text).expanduser().read_bytes()
        key = serialization.load_pem_public_key(data)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            "gateway.policy_pubkey is not an Ed25519 public key (ed25519:<64 hex>, PEM, or "
            "the path of a PEM file); ask your administrator for the gateway's key."
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("gateway.policy_pubkey is not an Ed25519 key; ask your administrator "
                          "for the gateway's key.")
    return key
