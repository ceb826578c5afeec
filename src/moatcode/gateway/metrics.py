"""Prometheus metrics, in a registry of their own (one per gateway app).

Labels name models, routes, statuses and reasons, never users or tokens: a
user label would make the series count grow with the organisation, and the
per-user figures are in the audit store already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

M = TypeVar("M", Counter, Gauge, Histogram)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0, 60.0, 120.0, 300.0)
_TTFB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                 5.0, 10.0, 30.0)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(
        auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("moat_gateway_requests", "Requests answered, by route, model "
                                "and HTTP status.", ("route", "model", "status"), registry=r)
        self.tokens = Counter("moat_gateway_tokens", "Tokens the model servers reported, by "
                              "model and kind (prompt or completion).", ("model", "kind"),
                              registry=r)
        self.latency = Histogram("moat_gateway_request_seconds", "Time from the request to the "
                                 "last byte of the answer.", ("route", "stream"),
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.ttfb = Histogram("moat_gateway_first_byte_seconds", "Time from the request to the "
                              "first byte of the model's answer.", ("stream",),
                              buckets=_TTFB_BUCKETS, registry=r)
        self.refusals = Counter("moat_gateway_refusals", "Requests refused, by reason.",
                                ("reason",), registry=r)
        self.upstream_healthy = Gauge("moat_gateway_upstream_healthy", "1 if the upstream "
                                      "passes its health check.", ("upstream",), registry=r)
        self.upstream_errors = Counter("moat_gateway_upstream_errors", "Upstream failures, by "
                                       "kind.", ("upstream", "kind"), registry=r)
        self.audit_pending = Gauge("moat_gateway_audit_pending", "Audit records waiting to be "
                                   "written.", registry=r)
        self.audit_written = Gauge("moat_gateway_audit_written", "Audit records written by "
                                   "this process.", registry=r)
        self.audit_dropped = Gauge("moat_gateway_audit_dropped", "Audit records dropped "
                                   "because the queue was full (only with fail_open).",
                                   registry=r)
        self.database_up = Gauge("moat_gateway_database_up", "1 while the database takes "
                                 "records.", registry=r)
        self.active_streams = Gauge("moat_gateway_active_streams", "Streams being relayed.",
                                    registry=r)
        self.agent_records = Counter("moat_gateway_agent_records", "Records shipped by agents, "
                                     "by verdict.", ("check",), registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Children(Generic[M]):
    """A labelled metric's children, each looked up once.

    ``labels()`` checks and locks on every call, a few microseconds that every
    request paid several times over. Label values must come from a bounded
    set (routes, model names from the config, statuses, reasons): never from
    what a client sent.
    """

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child
