"""Who is asking: a bearer token (an API token or an OIDC JWT) to a ``Principal``.

API tokens are checked against this replica's copy of the identity tables,
which the database thread reloads every ``identity.refresh_s`` seconds, so a
check costs one HMAC and no database round trip. A revocation therefore takes
effect on every replica within that interval; set it to 0 to read the
database on every request instead. A token id not in the copy (a token
created since the last reload) is looked up once, and remembered as unknown
until the next reload, so made-up ids cannot turn into a database flood.

Every failure is the same ``None``; the caller answers 401 without saying
which part was wrong.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from moatcode.gateway.config import OidcConfig
from moatcode.gateway.identity import (
    IdentitySnapshot,
    IdentityStore,
    Principal,
    check_token,
    token_id_of,
)
from moatcode.gateway.oidc import JwksSource, looks_like_jwt, verify_jwt

_MAX_TOKEN = 8192
_MAX_MISSES = 10_000


class Authenticator:
    def __init__(
        self,
        identity: IdentityStore,
        *,
        refresh_s: float,
        oidc: OidcConfig | None = None,
        jwks: JwksSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._identity = identity
        self._key = identity.key
        self._refresh_s = refresh_s
        self._oidc = oidc
        self._jwks = jwks
        self._clock = clock
        self._snapshot: IdentitySnapshot | None = None
        self._misses: dict[str, float] = {}

    def set_snapshot(self, snapshot: IdentitySnapshot) -> None:
        """Called by the database thread; a reference swap, safe across threads."""
        self._snapshot = snapshot
        self._misses = {}

    async def authenticate(self, authorization: str | None) -> Principal | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        if self._oidc is not None and looks_like_jwt(token):
            return await self._from_jwt(token)
        now = datetime.fromtimestamp(self._clock(), UTC)
        snapshot = self._snapshot if self._refresh_s > 0 else None
        if snapshot is not None:
            principal = check_token(self._key, token, snapshot, now)
            token_id = token_id_of(token)
            if principal is not None or token_id is None or token_id in snapshot.tokens:
                return principal
            if token_id in self._misses:
                return None
        else:
            token_id = token_id_of(token)
            if token_id is None:
                # Same work as a real check, so a malformed token answers as fast.
                check_token(self._key, token, IdentitySnapshot({}, {}, {}), now)
                return None
        fresh = await asyncio.to_thread(self._identity.lookup, token_id)
        principal = check_token(self._key, token, fresh, now)
        if principal is None and snapshot is not None and len(self._misses) < _MAX_MISSES:
            self._misses[token_id] = self._clock()
        return principal

    async def _from_jwt(self, token: str) -> Principal | None:
        assert self._oidc is not None and self._jwks is not None
        if self._jwks.needs_reload(token):
            await asyncio.to_thread(self._jwks.load)
        found = verify_jwt(token, self._jwks.keys(), self._oidc, self._clock())
        if found is None:
            return None
        snapshot = self._snapshot if self._refresh_s > 0 else None
        if snapshot is None:
            return await asyncio.to_thread(self._identity.principal_for, found.user,
                                           found.team, found.token_id)
        user = snapshot.users.get(found.user)
        if user is not None and user.disabled:
            return None
        team_name = found.team or (user.team if user else None)
        team = snapshot.teams.get(team_name) if team_name else None
        return Principal(found.user, team, found.token_id, "oidc") if team else None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization or len(authorization) > _MAX_TOKEN:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
