"""Token quotas per user and per team, per minute and per day, shared by every replica.

Counting: the ``usage`` table holds tokens per (user or team, minute or day
window). A replica adds a request's tokens to it in the same transaction that
writes the request's audit record, so usage and audit never disagree.

Checking: each replica keeps a view of the current windows, read from the
table every ``usage_refresh_s`` by its database thread, plus the tokens of
its own requests not yet written. A check reads only that view, so the
request path never waits for the database. A window's count can therefore
lag other replicas' traffic by up to the refresh interval; a request is
refused once the count it sees has reached the limit, and a request already
admitted may finish over it. Windows are fixed (the UTC minute, the UTC day),
so every replica agrees where they start, and a refusal says how long until
the window ends (Retry-After).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from moatcode.gateway.db import usage
from moatcode.gateway.identity import Principal

MINUTE = 60
DAY = 86400

# (scope, name, window, start): scope "user" | "team", window "minute" | "day".
Key = tuple[str, str, str, int]


@dataclass(frozen=True)
class QuotaRefusal:
    limit_name: str  # user_tpm | user_tpd | team_tpm | team_tpd
    limit: int
    used: int
    retry_after_s: int


def window_keys(scope: str, name: str, at: float) -> tuple[Key, Key]:
    return (
        (scope, name, "minute", int(at // MINUTE) * MINUTE),
        (scope, name, "day", int(at // DAY) * DAY),
    )


def usage_increments(user: str, team: str, tokens: int, at: float) -> dict[Key, int]:
    """The counters one request's tokens add to."""
    if tokens <= 0:
        return {}
    return {key: tokens for key in (*window_keys("user", user, at),
                                    *window_keys("team", team, at))}


class QuotaBook:
    """One replica's view of the current windows; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stored: dict[Key, int] = {}
        self._unwritten: dict[Key, int] = {}

    def check(self, principal: Principal, now: float) -> QuotaRefusal | None:
        team = principal.team
        user_min, user_day = window_keys("user", principal.user, now)
        team_min, team_day = window_keys("team", team.name, now)
        limits = (
            ("user_tpm", team.user_tpm, user_min, MINUTE),
            ("user_tpd", team.user_tpd, user_day, DAY),
            ("team_tpm", team.team_tpm, team_min, MINUTE),
            ("team_tpd", team.team_tpd, team_day, DAY),
        )
        with self._lock:
            for name, limit, key, length in limits:
                if limit is None:
                    continue
                used = self._stored.get(key, 0) + self._unwritten.get(key, 0)
                if used >= limit:
                    retry = max(1, math.ceil(key[3] + length - now))
                    return QuotaRefusal(name, limit, used, retry)
        return None

    def add_unwritten(self, increments: Mapping[Key, int]) -> None:
        """Count a finished request now; its record is still on the way to the database."""
        with self._lock:
            for key, amount in increments.items():
                self._unwritten[key] = self._unwritten.get(key, 0) + amount

    def written(self, increments: Iterable[Mapping[Key, int]]) -> None:
        """Those requests are in the database: move them to the stored view."""
        with self._lock:
            for batch in increments:
                for key, amount in batch.items():
                    left = self._unwritten.get(key, 0) - amount
                    if left > 0:
                        self._unwritten[key] = left
                    else:
                        self._unwritten.pop(key, None)
                    self._stored[key] = self._stored.get(key, 0) + amount

    def replace_stored(self, totals: Mapping[Key, int]) -> None:
        """The database's totals for the current windows, as just read."""
        with self._lock:
            self._stored = dict(totals)

    def used(self, key: Key) -> int:
        with self._lock:
            return self._stored.get(key, 0) + self._unwritten.get(key, 0)


def _upsert(insert: Any) -> Any:
    return insert.on_conflict_do_update(
        index_elements=["scope", "name", "window", "start"],
        set_={"tokens": usage.c.tokens + insert.excluded.tokens})


# Built once, not per batch: building and keying the statement cost more than running it.
_ADD_USAGE = {"postgresql": _upsert(pg_insert(usage)), "sqlite": _upsert(sqlite_insert(usage))}


def add_usage(conn: Connection, increments: Mapping[Key, int]) -> None:
    """Add to the stored counters (inside the caller's transaction)."""
    if not increments:
        return
    rows = [{"scope": k[0], "name": k[1], "window": k[2], "start": k[3], "tokens": v}
            for k, v in sorted(increments.items())]
    conn.execute(_ADD_USAGE[conn.dialect.name], rows)


def read_current(conn: Connection, now: float) -> dict[Key, int]:
    """Every counter of the current minute and day."""
    minute, day = int(now // MINUTE) * MINUTE, int(now // DAY) * DAY
    query = select(usage.c.scope, usage.c.name, usage.c.window, usage.c.start,
                   usage.c.tokens).where(
        ((usage.c.window == "minute") & (usage.c.start == minute))
        | ((usage.c.window == "day") & (usage.c.start == day)))
    return {(r.scope, r.name, r.window, int(r.start)): int(r.tokens)
            for r in conn.execute(query)}


def prune(conn: Connection, now: float, keep_days: int = 35) -> None:
    """Drop minute windows older than a day and day windows older than ``keep_days``."""
    conn.execute(usage.delete().where(
        ((usage.c.window == "minute") & (usage.c.start < now - DAY))
        | ((usage.c.window == "day") & (usage.c.start < now - keep_days * DAY))))
