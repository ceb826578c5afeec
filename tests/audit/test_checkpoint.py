from __future__ import annotations

import hashlib
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from moatcode.audit.checkpoint import (
    CheckpointSigner,
    checkpoint_message,
    load_or_create_signer,
    load_public_key,
    public_key_path_for,
    signature_checker,
)
from moatcode.errors import AuditUnavailable, UsageError


def test_message_is_exact() -> None:
    assert checkpoint_message(42, "ab" * 32) == b"moat-audit-checkpoint:1:42:" + b"ab" * 32


def test_sign_and_check() -> None:
    key = Ed25519PrivateKey.generate()
    signer = CheckpointSigner.from_private_key(key)
    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    data = signer.sign(7, "cd" * 32)
    assert data == {
        "alg": "ed25519",
        "key_id": hashlib.sha256(raw).hexdigest()[:16],
        "seq": 7,
        "hash": "cd" * 32,
        "signature": key.sign(checkpoint_message(7, "cd" * 32)).hex(),
    }
    check = signature_checker(key.public_key())
    assert check(data) is None
    assert check({**data, "seq": 8}) == "its signature does not verify with the given key."
    assert check({**data, "signature": "zz"}) == "its signature does not verify with the given key."
    assert check({**data, "alg": "rsa"}) == "it is not an ed25519 signature."
    assert check({**data, "seq": "7"}) == "its fields are malformed."


def test_key_pair_is_created_once_with_private_modes(tmp_path: Path) -> None:
    path = tmp_path / "moat" / "audit-key.pem"
    signer = load_or_create_signer(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    public = load_public_key(public_key_path_for(path))
    assert signature_checker(public)(signer.sign(1, "0" * 64)) is None
    assert load_or_create_signer(path).key_id == signer.key_id
    assert load_public_key(path).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ) == public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert sorted(p.name for p in path.parent.iterdir()) == ["audit-key.pem", "audit-key.pem.pub"]


def test_missing_public_key_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "audit-key.pem"
    signer = load_or_create_signer(path)
    public_key_path_for(path).unlink()
    load_or_create_signer(path)
    assert signature_checker(load_public_key(public_key_path_for(path)))(
        signer.sign(3, "1" * 64)
    ) is None


def test_processes_racing_to_create_the_key_agree(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-key.pem"
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from moatcode.audit.checkpoint import load_or_create_signer
        print(load_or_create_signer(Path(sys.argv[1])).key_id)
        """
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                         text=True)
        for _ in range(4)
    ]
    ids = {child.communicate(timeout=60)[0].strip() for child in children}
    assert ids == {load_or_create_signer(path).key_id}


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit-key.pem"
    load_or_create_signer(path)
    path.chmod(0o644)
    with pytest.raises(AuditUnavailable) as error:
        load_or_create_signer(path)
    assert str(error.value) == (
        f"The audit signing key {path} can be read by others (mode 0644); run chmod 600 {path}."
    )


def test_a_broken_private_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit-key.pem"
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(AuditUnavailable, match="is not a readable Ed25519 key"):
        load_or_create_signer(path)


def test_public_key_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Cannot read the public key"):
        load_public_key(tmp_path / "missing.pub")
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("hello")
    with pytest.raises(UsageError) as error:
        load_public_key(garbage)
    assert str(error.value) == (
        f"{garbage} is not a PEM key; give the .pub file Moat wrote next to its signing key."
    )
    rsa = tmp_path / "rsa.pub"
    rsa.write_bytes(
        generate_private_key(65537, 2048).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(UsageError, match="is not an Ed25519 key"):
        load_public_key(rsa)
