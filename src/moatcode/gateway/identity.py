"""Users, teams and API tokens: the records, the admin operations, the token check.

A token is ``moat_<id>_<secret>``: a 12-hex-digit public id (what logs, the
audit and ``token list`` show) and 32 random bytes. Only an HMAC-SHA256 of the
whole token under the gateway's token-hash key is stored, so a copy of the
database does not yield a usable token, and the token is shown once, when it
is created.

Checking a token does the same work whatever is wrong with it (unknown id,
wrong secret, revoked, expired, disabled user): the HMAC is always computed
and compared in constant time, and every failure is the same ``None``, so a
401 gives no hint which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Row, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql.expression import Executable

from moatcode.errors import ConfigError, UsageError
from moatcode.gateway import db
from moatcode.gateway.db import teams, tokens, users

TOKEN_PREFIX = "moat_"
_ID_HEX = 12
_TOKEN_RE = re.compile(r"moat_([0-9a-f]{12})_[A-Za-z0-9_-]{43}\Z")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}\Z")
ALL_MODELS = "*"


@dataclass(frozen=True)
class Team:
    """A team's access rules; a limit of None means no limit."""

    name: str
    models: tuple[str, ...]
    user_tpm: int | None = None
    user_tpd: int | None = None
    team_tpm: int | None = None
    team_tpd: int | None = None
    max_request_bytes: int | None = None
    created_at: str = ""

    def allows(self, model: str) -> bool:
        return ALL_MODELS in self.models or model in self.models


@dataclass(frozen=True)
class User:
    name: str
    team: str
    disabled: bool = False
    created_at: str = ""


@dataclass(frozen=True)
class TokenInfo:
    """A token as stored: never the token itself."""

    id: str
    user: str
    digest: str
    label: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user, their team's rules, and the credential used."""

    user: str
    team: Team
    token_id: str
    via: str = "token"  # "token" | "oidc"


@dataclass(frozen=True)
class IdentitySnapshot:
    """Everything a token check needs, read from the database in one go."""

    tokens: dict[str, TokenInfo]
    users: dict[str, User]
    teams: dict[str, Team]


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def token_id_of(presented: str) -> str | None:
    """The public id in a well-formed token, else None."""
    match = _TOKEN_RE.match(presented)
    return match.group(1) if match else None


def digest_token(key: bytes, presented: str) -> str:
    return hmac.new(key, presented.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


_DUMMY_DIGEST = "0" * 64


def check_token(
    key: bytes, presented: str, snapshot: IdentitySnapshot, now: datetime
) -> Principal | None:
    """The principal ``presented`` stands for, or None whatever the reason."""
    digest = digest_token(key, presented)
    token_id = token_id_of(presented)
    info = snapshot.tokens.get(token_id) if token_id is not None else None
    matches = hmac.compare_digest(digest, info.digest if info is not None else _DUMMY_DIGEST)
    if info is None or not matches or info.revoked_at is not None:
        return None
    if info.expires_at is not None and parse_time(info.expires_at) <= now:
        return None
    user = snapshot.users.get(info.user)
    if user is None or user.disabled:
        return None
    team = snapshot.teams.get(user.team)
    if team is None:
        return None
    return Principal(user.name, team, info.id)


def load_key(path: Path) -> bytes:
    """The token-hash key at ``path`` (created by ``moat gateway init``)."""
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"The token-hash key {path} does not exist; run moat gateway init, or set "
            "keys.token_hash_key."
        ) from exc
    except OSError as exc:
        raise ConfigError(f"The token-hash key {path} cannot be read ({exc}); fix it.") from exc
    if len(data) < 32:
        raise ConfigError(
            f"The token-hash key {path} is shorter than 32 bytes; run moat gateway init "
            "with a fresh key path."
        )
    return data


def create_key_file(path: Path) -> bool:
    """Write a new random key to ``path`` (mode 0600) unless it exists; True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True


class IdentityStore:
    """Admin operations and lookups on the identity tables."""

    def __init__(self, engine: Engine, key: bytes) -> None:
        self.engine = engine
        self.key = key

    # -- teams ---------------------------------------------------------------

    def add_team(self, team: Team) -> Team:
        _check_name(team.name, "team")
        stored = Team(**{**team.__dict__, "created_at": now_text()})
        try:
            with self.engine.begin() as conn:
                conn.execute(teams.insert(), _team_row(stored))
        except IntegrityError as exc:
            raise UsageError(
                f"The team {team.name!r} exists already; change it with moat gateway team set."
            ) from exc
        except SQLAlchemyError as exc:
            raise db.unavailable(self.engine, exc) from exc
        return stored

    def set_team(self, name: str, **changes: object) -> Team:
        current = self.get_team(name)
        if current is None:
            raise UsageError(f"There is no team {name!r}; add it with moat gateway team add.")
        updated = Team(**{**current.__dict__, **changes})
        row = _team_row(updated)
        del row["name"], row["created_at"]
        self._write(teams.update().where(teams.c.name == name).values(**row))
        return updated

    def get_team(self, name: str) -> Team | None:
        rows = self._read(select(teams).where(teams.c.name == name))
        return _team(rows[0]) if rows else None

    def list_teams(self) -> list[Team]:
        return [_team(r) for r in self._read(select(teams).order_by(teams.c.name))]

    # -- users ---------------------------------------------------------------

    def add_user(self, name: str, team: str) -> User:
        _check_name(name, "user")
        if self.get_team(team) is None:
            raise UsageError(f"There is no team {team!r}; add it first with moat gateway team add.")
        user = User(name, team, False, now_text())
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert(), user.__dict__)
        except IntegrityError as exc:
            raise UsageError(f"The user {name!r} exists already.") from exc
        except SQLAlchemyError as exc:
            raise db.unavailable(self.engine, exc) from exc
        return user

    def set_disabled(self, name: str, disabled: bool) -> None:
        if self.get_user(name) is None:
            raise UsageError(f"There is no user {name!r}; list them with moat gateway user list.")
        self._write(users.update().where(users.c.name == name).values(disabled=disabled))

    def get_user(self, name: str) -> User | None:
        rows = self._read(select(users).where(users.c.name == name))
        return _user(rows[0]) if rows else None

    def list_users(self) -> list[User]:
        return [_user(r) for r in self._read(select(users).order_by(users.c.name))]

    # -- tokens --------------------------------------------------------------

    def create_token(
        self, user: str, *, expires_at: datetime | None = None, label: str = ""
    ) -> tuple[TokenInfo, str]:
        """Create a token for ``user``; returns its record and the token, shown only now."""
        if self.get_user(user) is None:
            raise UsageError(f"There is no user {user!r}; add it with moat gateway user add.")
        token_id = secrets.token_hex(_ID_HEX // 2)
        presented = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        info = TokenInfo(
            token_id, user, digest_token(self.key, presented), label, now_text(),
            now_text(expires_at) if expires_at else None, None,
        )
        self._write(tokens.insert().values(**info.__dict__))
        return info, presented

    def revoke_token(self, token_id: str) -> TokenInfo:
        info = self.get_token(token_id)
        if info is None:
            raise UsageError(
                f"There is no token {token_id!r}; list them with moat gateway token list."
            )
        if info.revoked_at is None:
            self._write(tokens.update().where(tokens.c.id == token_id).values(
                revoked_at=now_text()))
        revoked = self.get_token(token_id)
        assert revoked is not None
        return revoked

    def get_token(self, token_id: str) -> TokenInfo | None:
        rows = self._read(select(tokens).where(tokens.c.id == token_id))
        return _token(rows[0]) if rows else None

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        query = select(tokens).order_by(tokens.c.created_at)
        if user is not None:
            query = query.where(tokens.c.user == user)
        return [_token(r) for r in self._read(query)]

    # -- lookups for the request path ----------------------------------------

    def snapshot(self) -> IdentitySnapshot:
        """Every token, user and team, for a replica's in-memory copy."""
        try:
            with self.engine.connect() as conn:
                token_rows = conn.execute(select(tokens)).all()
                user_rows = conn.execute(select(users)).all()
                team_rows = conn.execute(select(teams)).all()
        except SQLAlchemyError as exc:
            raise db.unavailable(self.engine, exc) from exc
        return IdentitySnapshot(
            {row.id: _token(row) for row in token_rows},
            {row.name: _user(row) for row in user_rows},
            {row.name: _team(row) for row in team_rows},
        )

    def lookup(self, token_id: str) -> IdentitySnapshot:
        """The slice of the tables one token check needs (empty if the id is unknown)."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
                if row is None:
                    return IdentitySnapshot({}, {}, {})
                info = _token(row)
                user_row = conn.execute(select(users).where(users.c.name == info.user)).first()
                user = _user(user_row) if user_row else None
                team_row = (
                    conn.execute(select(teams).where(teams.c.name == user.team)).first()
                    if user else None
                )
        except SQLAlchemyError as exc:
            raise db.unavailable(self.engine, exc) from exc
        return IdentitySnapshot(
            {info.id: info},
            {user.name: user} if user else {},
            {team_row.name: _team(team_row)} if team_row else {},
        )

    def principal_for(self, user: str, team: str | None, token_id: str) -> Principal | None:
        """An OIDC identity's principal: a known user's team unless the claim names one."""
        stored = self.get_user(user)
        if stored is not None and stored.disabled:
            return None
        team_name = team or (stored.team if stored else None)
        found = self.get_team(team_name) if team_name else None
        return Principal(user, found, token_id, "oidc") if found else None

    # -- plumbing ------------------------------------------------------------

    def _read(self, query: Executable) -> list[Row[Any]]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query).all())
        except SQLAlchemyError as exc:
            raise db.unavailable(self.engine, exc) from exc

    def _write(self, statement: Executable) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except SQLAlchemyError as exc:
            raise db.unavailable(self.engine, exc) from exc


def _check_name(name: str, what: str) -> None:
    if not _NAME_RE.match(name):
        raise UsageError(
            f"{name!r} is not a valid {what} name; use letters, digits and . _ @ - "
            "(at most 128, starting with a letter or digit)."
        )


def _team_row(team: Team) -> dict[str, object]:
    row = dict(team.__dict__)
    row["models"] = json.dumps(list(team.models))
    return row


def _team(row: Row[Any]) -> Team:
    values = row._mapping
    models = json.loads(values["models"])
    return Team(
        values["name"], tuple(str(m) for m in models), values["user_tpm"], values["user_tpd"],
        values["team_tpm"], values["team_tpd"], values["max_request_bytes"],
        values["created_at"],
    )


def _user(row: Row[Any]) -> User:
    v = row._mapping
    return User(v["name"], v["team"], bool(v["disabled"]), v["created_at"])


def _token(row: Row[Any]) -> TokenInfo:
    v = row._mapping
    return TokenInfo(v["id"], v["user"], v["digest"], v["label"], v["created_at"],
                     v["expires_at"], v["revoked_at"])
