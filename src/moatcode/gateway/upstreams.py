"""The model servers behind each model name: round-robin, health checks, failover.

Each model lists one or more upstreams. A request goes to the next healthy
one in turn; one that refuses before sending any byte is marked down and the
request moves on to the next. A background task checks every upstream's
health path on an interval and brings a server back when it answers 200.
Health is each replica's own view (it is cheap to rebuild and needs no
sharing); nothing else about upstreams is kept.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from moatcode.gateway.config import ModelRoute, UpstreamSettings, UpstreamSpec
from moatcode.gateway.upstream_http import (
    ConnectionPool,
    Timeouts,
    UpstreamFailure,
    send_request,
)

log = logging.getLogger(__name__)

_HEALTH_BODY_LIMIT = 65536

# Called as (url, healthy) whenever an upstream's health changes.
HealthListener = Callable[[str, bool], None]


@dataclass
class Upstream:
    spec: UpstreamSpec
    pool: ConnectionPool
    healthy: bool = True
    last_error: str = ""


@dataclass
class _Model:
    route: ModelRoute
    upstreams: list[Upstream]
    turn: int = 0


@dataclass
class UpstreamSet:
    """Every upstream of every model, with its health and a turn counter per model."""

    settings: UpstreamSettings
    on_change: HealthListener | None = None
    _models: dict[str, _Model] = field(default_factory=dict)
    _by_url: dict[str, Upstream] = field(default_factory=dict)

    @classmethod
    def create(cls, routes: tuple[ModelRoute, ...], settings: UpstreamSettings,
               on_change: HealthListener | None = None) -> UpstreamSet:
        self = cls(settings, on_change)
        tls = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None)
        pools: dict[tuple[str, str, int], ConnectionPool] = {}
        for route in routes:
            members = []
            for spec in route.upstreams:
                upstream = self._by_url.get(spec.url)
                if upstream is None:
                    key = (spec.scheme, spec.host, spec.port)
                    pool = pools.get(key)
                    if pool is None:
                        pool = ConnectionPool(spec.host, spec.port,
                                              tls if spec.scheme == "https" else None,
                                              settings.max_idle_connections)
                        pools[key] = pool
                    upstream = Upstream(spec, pool)
                    self._by_url[spec.url] = upstream
                members.append(upstream)
            self._models[route.name] = _Model(route, members)
        return self

    @property
    def timeouts(self) -> Timeouts:
        s = self.settings
        return Timeouts(s.connect_timeout_s, s.first_byte_timeout_s, s.read_timeout_s)

    def all(self) -> list[Upstream]:
        return list(self._by_url.values())

    def candidates(self, model: str) -> list[Upstream]:
        """The model's healthy upstreams, starting with the one whose turn it is."""
        entry = self._models.get(model)
        if entry is None:
            return []
        members = entry.upstreams
        count = len(members)
        start = entry.turn % count
        entry.turn = start + 1
        if count == 1:
            return members if members[0].healthy else []
        return [u for u in members[start:] + members[:start] if u.healthy]

    def mark(self, upstream: Upstream, healthy: bool, why: str = "") -> None:
        upstream.last_error = why
        if upstream.healthy == healthy:
            return
        upstream.healthy = healthy
        if healthy:
            log.info("upstream %s is healthy again", upstream.spec.url)
        else:
            log.warning("upstream %s marked down: %s", upstream.spec.url, why)
        if self.on_change is not None:
            self.on_change(upstream.spec.url, healthy)

    async def check(self, upstream: Upstream) -> bool:
        """Ask one upstream's health path; update and return its health."""
        s = self.settings
        timeouts = Timeouts(s.health_timeout_s, s.health_timeout_s, s.health_timeout_s)
        path = s.health_path
        try:
            response = await send_request(upstream.pool, "GET", path, [], b"", timeouts)
            await response.read_all(_HEALTH_BODY_LIMIT)
        except UpstreamFailure as exc:
            self.mark(upstream, False, str(exc))
            return False
        ok = response.status == 200
        self.mark(upstream, ok, "" if ok else f"health check answered {response.status}")
        return ok

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(u) for u in self._by_url.values()))

    async def run_checks(self, stop: asyncio.Event) -> None:
        """Check every upstream now and then every ``health_interval_s`` until ``stop``."""
        while not stop.is_set():
            await self.check_all()
            try:
                async with asyncio.timeout(self.settings.health_interval_s):
                    await stop.wait()
            except TimeoutError:
                continue

    def close(self) -> None:
        for upstream in self._by_url.values():
            upstream.pool.close()
