"""Signed checkpoints: an Ed25519 signature over the head of the chain.

A checkpoint is an ordinary record of kind ``checkpoint`` whose data is

    {"alg": "ed25519", "key_id": "<16 hex>", "seq": N, "hash": "<hash of record N>",
     "signature": "<128 hex>"}

where record N is the record just before the checkpoint, and the signature is
over the ASCII bytes ``moat-audit-checkpoint:1:<N>:<hash>``. ``key_id`` is the
first 16 hex digits of sha256 over the raw 32-byte public key.

The private key is a PKCS#8 PEM file, mode 0600, created on first use; the
public key sits next to it as ``<name>.pub`` (SubjectPublicKeyInfo PEM) for
whoever verifies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from moatcode.audit.chain import CheckSignature
from moatcode.errors import AuditUnavailable, UsageError

ALGORITHM = "ed25519"


def checkpoint_message(seq: int, head_hash: str) -> bytes:
    """The exact bytes a checkpoint signs."""
    return f"moat-audit-checkpoint:1:{seq}:{head_hash}".encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class CheckpointSigner:
    """Signs heads of the chain with one private key."""

    private_key: Ed25519PrivateKey
    key_id: str

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> CheckpointSigner:
        return cls(private_key, key_id(private_key.public_key()))

    def sign(self, seq: int, head_hash: str) -> dict[str, Any]:
        """The data of a checkpoint record over record ``seq`` with hash ``head_hash``."""
        signature = self.private_key.sign(checkpoint_message(seq, head_hash))
        return {
            "alg": ALGORITHM,
            "key_id": self.key_id,
            "seq": seq,
            "hash": head_hash,
            "signature": signature.hex(),
        }


def signature_checker(public_key: Ed25519PublicKey) -> CheckSignature:
    """A callback for ``walk_chain`` that checks checkpoints against ``public_key``."""
    expected_id = key_id(public_key)

    def check(data: Mapping[str, Any]) -> str | None:
        if data.get("alg") != ALGORITHM:
            return f"it is not an {ALGORITHM} signature."
        if data.get("key_id") != expected_id:
            return f"it names key {data.get('key_id')!r}, not the given key {expected_id}."
        seq, head, signature = data.get("seq"), data.get("hash"), data.get("signature")
        if not (isinstance(seq, int) and isinstance(head, str) and isinstance(signature, str)):
            return "its fields are malformed."
        try:
            public_key.verify(bytes.fromhex(signature), checkpoint_message(seq, head))
        except (ValueError, UnicodeEncodeError, InvalidSignature):
            return "its signature does not verify with the given key."
        return None

    return check


def load_or_create_signer(path: Path) -> CheckpointSigner:
    """The signer for the private key at ``path``, creating the key pair on first use.

    Creation is atomic (two Moat processes starting at once end up with the
    same key), the private key is mode 0600 in a directory created 0700, and
    the public key is written to ``<path>.pub``.
    """
    try:
        if not path.exists():
            _create_key(path)
        private_key = _load_private_key(path)
        public_path = public_key_path_for(path)
        if not public_path.exists():
            _write_public_key(public_path, private_key.public_key())
        return CheckpointSigner.from_private_key(private_key)
    except OSError as exc:
        raise AuditUnavailable(
            f"The audit signing key {path} cannot be used ({exc.strerror or exc}); "
            "fix its permissions, or set audit.key_path."
        ) from exc


def _create_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if another process won the race; then its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _write_public_key(path: Path, public_key: Ed25519PublicKey) -> None:
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(pem)
    os.replace(temp, path)


def public_key_path_for(private_key_path: Path) -> Path:
    return private_key_path.with_name(private_key_path.name + ".pub")


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AuditUnavailable(
            f"The audit signing key {path} can be read by others (mode {mode:04o}); "
            f"run chmod 600 {path}."
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise AuditUnavailable(
            f"The audit signing key {path} is not a readable Ed25519 key; "
            "move it aside so Moat creates a new one, or set audit.key_path."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditUnavailable(
            f"The audit signing key {path} is not an Ed25519 key; "
            "move it aside so Moat creates a new one, or set audit.key_path."
        )
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path``: a public key PEM, or the private key's PEM."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"Cannot read the public key {path} ({exc.strerror or exc}); "
            "give the .pub file Moat wrote next to its signing key."
        ) from exc
    key: object
    try:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"{path} is not a PEM key; give the .pub file Moat wrote next to its signing key."
        ) from exc
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, Ed25519PublicKey):
        return key
    raise UsageError(
        f"{path} is not an Ed25519 key; give the .pub file Moat wrote next to its signing key."
    )
