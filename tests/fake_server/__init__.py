"""A scripted fake model server speaking the OpenAI protocol on 127.0.0.1.

Tests use it through the ``fake_model`` fixture; benchmarks import it with the
repository root on ``sys.path``. No pytest imports here, so both can.
"""

from __future__ import annotations

from tests.fake_server.script import Call, CutStream, Fault, Garbage, Reply, SlowStream, Turn
from tests.fake_server.server import FakeModelServer, RecordedRequest

__all__ = [
    "Call",
    "CutStream",
    "FakeModelServer",
    "Fault",
    "Garbage",
    "RecordedRequest",
    "Reply",
    "SlowStream",
    "Turn",
]
