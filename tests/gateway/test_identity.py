"""Tokens: shown once, stored as a keyed hash, and every failure the same ``None``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from moatcode.errors import UsageError
from moatcode.gateway import db
from moatcode.gateway.identity import IdentityStore, Principal, Team, check_token, digest_token

KEY = b"k" * 32
NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> IdentityStore:
    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.ensure_schema(engine)
    identity = IdentityStore(engine, KEY)
    identity.add_team(Team("eng", ("qwen",), user_tpm=10))
    identity.add_user("ann", "eng")
    return identity


def test_a_token_checks_and_only_its_keyed_hash_is_kept(store: IdentityStore) -> None:
    info, token = store.create_token("ann", expires_at=NOW + timedelta(days=1))
    assert info.digest == digest_token(KEY, token) and token not in repr(info)
    principal = check_token(KEY, token, store.snapshot(), NOW)
    assert principal == Principal("ann", store.snapshot().teams["eng"], info.id)
    assert check_token(b"another key " * 3, token, store.snapshot(), NOW) is None


def test_every_failure_is_none(store: IdentityStore) -> None:
    info, token = store.create_token("ann", expires_at=NOW + timedelta(days=1))
    snapshot = store.snapshot()
    expired = replace(snapshot, tokens={info.id: replace(info, expires_at="2025-05-01T00:00:00"
                                                                          ".000000Z")})
    revoked = replace(snapshot, tokens={info.id: replace(info, revoked_at="x")})
    disabled = replace(snapshot, users={"ann": replace(snapshot.users["ann"], disabled=True)})
    no_team = replace(snapshot, teams={})
    cases = [
        (token, expired), (token, revoked), (token, disabled), (token, no_team),
        (token[:-1] + ("A" if token[-1] != "A" else "B"), snapshot),
        ("moat_" + "0" * 12 + "_" + "A" * 43, snapshot), ("", snapshot), ("x" * 5000, snapshot),
    ]
    assert [check_token(KEY, t, s, NOW) for t, s in cases] == [None] * len(cases)


def test_admin_mistakes_name_the_fix(store: IdentityStore) -> None:
    with pytest.raises(UsageError, match="team add"):
        store.set_team("nope", user_tpm=1)
    with pytest.raises(UsageError, match="exists already"):
        store.add_user("ann", "eng")
    with pytest.raises(UsageError, match="not a valid user name"):
        store.add_user("ann; drop table", "eng")
    with pytest.raises(UsageError, match="token list"):
        store.revoke_token("nope")
