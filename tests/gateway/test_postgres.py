"""The PostgreSQL store, with two gateway replicas sharing it, and the database going away."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from moatcode.gateway.central_audit import verify_central
from moatcode.types import Usage
from tests.fake_server import FakeModelServer, Reply
from tests.gateway.conftest import GatewayHarness, PostgresCluster, model_section
from tests.gateway.test_agent_records import append, shipper
from tests.gateway.test_proxy import chat


@pytest.fixture
def replicas(start: Any, postgres: PostgresCluster, fake_model: FakeModelServer,
             tmp_path: Path) -> tuple[GatewayHarness, GatewayHarness]:
    settings = {"database": {"url": postgres.create_database()},
                "models": {"fake": model_section(fake_model.url)}}
    first: GatewayHarness = start(settings, tmp_path / "a")
    second_dir = tmp_path / "b"
    second_dir.mkdir()
    for name in ("token-hash.key", "signing.key", "signing.key.pub"):
        shutil.copy(tmp_path / "a" / name, second_dir / name)
    second: GatewayHarness = start(settings, second_dir)
    return first, second


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()


def test_replicas_build_one_chain_and_share_quotas(
    replicas: tuple[GatewayHarness, GatewayHarness], fake_model: FakeModelServer
) -> None:
    a, b = replicas
    token = a.add_user("alice", "eng", ("*",), team_tpm=100)
    fake_model.add(*[Reply(text="x", usage=Usage(10, 5)) for _ in range(4)],
                   Reply(text="big", usage=Usage(90, 20)))
    for harness in (a, b, a, b):
        with harness.client(token) as client:
            assert chat(client).status_code == 200
    with a.client(token) as client:
        assert chat(client).status_code == 200  # 60 + 110 tokens: over the team's 100
    a.wait_written()
    time.sleep(0.2)  # b reads the shared counters every 0.05 s
    with b.client(token) as client:
        refused = chat(client)
    assert refused.status_code == 429
    assert "team_tpm" in refused.json()["error"]["message"]
    records = a.records(at_least=6)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert {r["data"]["status"] for r in records} == {200, 429}
    [verdict] = verify_central(a.runtime.engine, a.runtime.signing_key.public_key())
    assert (verdict.ok, verdict.summary.records) == (True, 6)


def test_agent_records_on_postgres(replicas: tuple[GatewayHarness, GatewayHarness],
                                   tmp_path: Path) -> None:
    a, b = replicas
    a.add_user("alice", "eng")
    b.tokens.update(a.tokens)
    store = tmp_path / "audit.db"
    append(store, 4)
    assert shipper(a, store).close().sent == 4
    append(store, 2)
    assert shipper(b, store).close().sent == 2  # the other replica resumes where a stopped
    checks = [r["data"]["check"] for r in a.records("user:alice", 6)]
    assert checks == ["ok"] * 6


def test_an_unreachable_database_means_503_not_unaudited_service(
    replicas: tuple[GatewayHarness, GatewayHarness], postgres: PostgresCluster,
    fake_model: FakeModelServer
) -> None:
    a, _ = replicas
    token = a.add_user("alice", "eng")
    fake_model.add(Reply(text="before"), Reply(text="after"))
    with a.client(token) as client:
        assert chat(client).status_code == 200
    database = a.config.database_url.rsplit("/", 1)[1]
    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false"))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :d"), {"d": database})
    try:
        deadline = time.monotonic() + 10
        while a.runtime.worker.available and time.monotonic() < deadline:
            time.sleep(0.02)
        with a.client(token) as client:
            down = chat(client)
            health = client.get("/health")
        assert down.status_code == 503
        assert health.status_code == 503
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        admin.dispose()
    deadline = time.monotonic() + 10
    while not a.runtime.worker.available and time.monotonic() < deadline:
        time.sleep(0.02)
    with a.client(token) as client:
        assert chat(client).status_code == 200
    # The refusal was queued while the database was away, and written once it was back.
    reasons = [r["data"]["reason"] for r in a.records(at_least=3)]
    assert (reasons[0], reasons[-1], len(reasons)) == ("", "", 3)
    assert reasons[1] in ("database_unavailable", "audit_unavailable")
