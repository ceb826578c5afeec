"""Every part of a running gateway, built from its config, started and stopped together.

Start: migrate the schema, load the keys, the policy and the OIDC key set,
read the shared state once, start the database thread and the health
checks. Stop (after the server has finished its running streams): stop the
health checks, write every waiting audit record, sign the chain's head,
close connections. Nothing here is needed by a second replica: everything
shared is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from moatcode.audit.checkpoint import CheckpointSigner
from moatcode.gateway import db
from moatcode.gateway.auth import Authenticator
from moatcode.gateway.config import GatewayConfig
from moatcode.gateway.exchange import Recorder
from moatcode.gateway.identity import IdentityStore, load_key
from moatcode.gateway.metrics import GatewayMetrics
from moatcode.gateway.oidc import JwksSource
from moatcode.gateway.policy_doc import load_policy_file, load_signing_key
from moatcode.gateway.proxy import ChatProxy, Gate
from moatcode.gateway.quotas import QuotaBook
from moatcode.gateway.upstreams import UpstreamSet
from moatcode.gateway.worker import DbWorker
from moatcode.guard.egress import create_http_client

log = logging.getLogger(__name__)


def fetch_url(url: str) -> bytes:
    """GET an internal URL (the OIDC key set) through the egress guard: that host only."""
    with create_http_client([url], 10.0) as client:
        response = client.get(url)
        response.raise_for_status()
        return response.content


@dataclass
class GatewayRuntime:
    config: GatewayConfig
    engine: Engine
    identity: IdentityStore
    signing_key: Ed25519PrivateKey
    policy: dict[str, Any] | None
    metrics: GatewayMetrics
    quotas: QuotaBook
    upstreams: UpstreamSet
    worker: DbWorker
    auth: Authenticator
    recorder: Recorder
    gate: Gate
    proxy: ChatProxy
    signer: CheckpointSigner
    jwks: JwksSource | None = None
    clock: Callable[[], float] = time.time
    _health_stop: asyncio.Event = field(default_factory=asyncio.Event)
    _health_task: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, config: GatewayConfig, *, clock: Callable[[], float] = time.time,
               fetch: Callable[[str], bytes] = fetch_url) -> GatewayRuntime:
        engine = db.create_db_engine(config.database_url, config.pool_size)
        identity = IdentityStore(engine, load_key(config.token_hash_key))
        signing_key = load_signing_key(config.signing_key)
        policy = load_policy_file(config.policy_file) if config.policy_file else None
        metrics = GatewayMetrics()
        quotas = QuotaBook()
        upstreams = UpstreamSet.create(
            config.models, config.upstream,
            on_change=lambda url, ok: metrics.upstream_healthy.labels(url).set(int(ok)))
        for upstream in upstreams.all():
            metrics.upstream_healthy.labels(upstream.spec.url).set(1)
        jwks = (JwksSource(config.oidc, fetch, min_reload_s=config.oidc.jwks_min_reload_s)
                if config.oidc else None)
        auth = Authenticator(identity, refresh_s=config.identity_refresh_s, oidc=config.oidc,
                             jwks=jwks, clock=clock)
        signer = CheckpointSigner.from_private_key(signing_key)
        worker = DbWorker(
            engine, quotas=quotas, identity=identity, signer=signer,
            flush_interval_s=config.flush_interval_s, max_pending=config.max_pending,
            max_batch=config.max_batch_records, checkpoint_every=config.checkpoint_every,
            identity_refresh_s=config.identity_refresh_s,
            usage_refresh_s=config.usage_refresh_s, on_snapshot=auth.set_snapshot,
            on_availability=lambda ok: metrics.database_up.set(int(ok)),
            fail_open=config.fail_open, clock=clock,
        )
        recorder = Recorder(worker, quotas, metrics, store_bodies=config.store_bodies,
                            access_log=config.access_log)
        gate = Gate(auth, worker, recorder, config.fail_open)
        proxy = ChatProxy(config, gate, upstreams, quotas, recorder, metrics, clock)
        return cls(config, engine, identity, signing_key, policy, metrics, quotas, upstreams,
                   worker, auth, recorder, gate, proxy, signer, jwks, clock)

    async def start(self) -> None:
        await asyncio.to_thread(db.ensure_schema, self.engine)
        if self.jwks is not None:
            await asyncio.to_thread(self.jwks.load)
        await asyncio.to_thread(self.worker.start)
        self.metrics.database_up.set(1)
        self._health_stop = asyncio.Event()
        self._health_task = asyncio.create_task(self.upstreams.run_checks(self._health_stop))

    async def stop(self) -> None:
        self._health_stop.set()
        if self._health_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        await asyncio.to_thread(self.worker.stop, self.config.graceful_timeout_s)
        self.upstreams.close()
        self.engine.dispose()

    def refresh_metrics(self) -> None:
        self.metrics.audit_pending.set(self.worker.pending)
        self.metrics.audit_written.set(self.worker.stats.written)
        self.metrics.audit_dropped.set(self.worker.stats.dropped)
