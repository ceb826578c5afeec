"""Fixtures for the gateway: a configured gateway serving on 127.0.0.1, and PostgreSQL.

``GatewayHarness`` writes a real config and real keys into a temporary
directory, starts the real app under uvicorn in a thread, and offers the
admin operations the ``moat gateway`` commands use. Upstreams are the
scripted fake model server (``tests.fake_server``), over real HTTP.

The PostgreSQL fixture starts a throwaway cluster from Debian's packages
(initdb into a temporary directory, on 127.0.0.1 at a free port, as the
``postgres`` user when the tests run as root) and stops it at the end.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomlkit
from sqlalchemy import create_engine, text

from moatcode.gateway import db
from moatcode.gateway.chains import iter_rows, list_chains
from moatcode.gateway.config import GatewayConfig, load_gateway_config
from moatcode.gateway.identity import IdentityStore, Team, create_key_file, load_key
from moatcode.gateway.policy_doc import create_signing_key
from moatcode.gateway.server import BackgroundServer, serve_in_thread
from tests.fake_server import FakeModelServer

POLICY_TOML = """\
[permissions]
deny = ["Bash(curl *)"]

[sandbox]
network = "none"
"""


def write_config(directory: Path, settings: dict[str, Any]) -> Path:
    """Write ``gateway.toml`` (merged over test defaults) and create its keys."""
    base: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0, "graceful_timeout_s": 10,
                   "access_log": False},
        "database": {"url": "sqlite:///gateway.db"},
        "audit": {"flush_interval_ms": 5},
        "identity": {"refresh_s": 0, "usage_refresh_s": 0.05},
        "upstream": {"health_path": "/v1/models", "health_interval_s": 0.2,
                     "health_timeout_s": 1.0, "connect_timeout_s": 2.0},
    }
    for section, values in settings.items():
        if isinstance(values, dict) and isinstance(base.get(section), dict):
            base[section] = {**base[section], **values}
        else:
            base[section] = values
    path = directory / "gateway.toml"
    path.write_text(tomlkit.dumps(base), encoding="utf-8")
    create_key_file(directory / "token-hash.key")
    create_signing_key(directory / "signing.key")
    return path


@dataclass
class GatewayHarness:
    config: GatewayConfig
    server: BackgroundServer
    identity: IdentityStore
    tokens: dict[str, str] = field(default_factory=dict)
    # Records written before the current test, per chain; ``records`` skips them.
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def runtime(self) -> Any:
        return self.server.runtime

    def add_user(self, user: str, team: str, models: tuple[str, ...] = ("*",),
                 **limits: int | None) -> str:
        """Add the team (if new) and the user; return a fresh token for the user."""
        if self.identity.get_team(team) is None:
            self.identity.add_team(Team(team, models, **limits))  # type: ignore[arg-type]
        self.identity.add_user(user, team)
        _, token = self.identity.create_token(user)
        self.tokens[user] = token
        return token

    def client(self, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout,
                            trust_env=False)

    def wait_written(self, timeout_s: float = 10.0) -> None:
        """Wait until every audit record submitted so far is in the database."""
        deadline = time.monotonic() + timeout_s
        while not self.runtime.worker.drained():
            if time.monotonic() > deadline:
                raise AssertionError("audit records were not written in time")
            time.sleep(0.005)

    def wait_healthy(self, healthy: bool, url: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            states = {u.spec.url: u.healthy for u in self.runtime.upstreams.all()}
            if states.get(url.rstrip("/")) == healthy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not become healthy={healthy}: {states}")
            time.sleep(0.02)

    def records(self, chain: str = "gateway", at_least: int = 1) -> list[dict[str, Any]]:
        """The chain's records since ``begin``, once at least ``at_least`` are written.

        A stream's record is made after its last byte is sent, so a client can
        finish reading before the record exists: wait for it.
        """
        deadline = time.monotonic() + 10
        while True:
            self.wait_written()
            rows = [
                {"seq": r.seq, "kind": r.kind, "data": json.loads(r.data)}
                for r in iter_rows(self.runtime.engine, chain)
            ][self.seen.get(chain, 0):]
            if len(rows) >= at_least or time.monotonic() > deadline:
                return rows
            time.sleep(0.01)

    def begin(self) -> GatewayHarness:
        """Start a test on a shared gateway: later ``records`` calls see only its records."""
        self.wait_written()
        for chain in list_chains(self.runtime.engine):
            self.seen[chain] = sum(1 for _ in iter_rows(self.runtime.engine, chain))
        return self


def start_gateway(directory: Path, settings: dict[str, Any],
                  http: str = "auto") -> GatewayHarness:
    path = write_config(directory, settings)
    config = load_gateway_config(path, {})
    engine = db.create_db_engine(config.database_url)
    db.ensure_schema(engine)
    identity = IdentityStore(engine, load_key(config.token_hash_key))
    server = serve_in_thread(config, http=http)
    return GatewayHarness(config, server, identity)


@contextmanager
def shared_fake_model() -> Iterator[FakeModelServer]:
    """One fake model server for a module; ``checked`` checks it after each test."""
    with FakeModelServer() as server:
        yield server


class ModelView:
    """A shared fake model server as one test sees it: its turns, its requests."""

    def __init__(self, server: FakeModelServer) -> None:
        self.server = server
        self.url = server.url
        self._requests = len(server.chat_requests)
        self._problems = len(server.problems)

    def add(self, *turns: Any) -> None:
        self.server.add(*turns)

    @property
    def chat_requests(self) -> list[Any]:
        return self.server.chat_requests[self._requests:]

    def check(self) -> None:
        assert self.server.problems[self._problems:] == []
        assert self.server.unused_turns == []


@contextmanager
def checked(server: FakeModelServer) -> Iterator[Any]:
    """Fail the test if it left the shared server a problem or an unused turn."""
    view = ModelView(server)
    yield view
    view.check()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """Call with the config sections to override; returns a started ``GatewayHarness``."""
    started: list[GatewayHarness] = []

    def _start(settings: dict[str, Any] | None = None,
               directory: Path | None = None) -> GatewayHarness:
        harness = start_gateway(directory or tmp_path, settings or {})
        started.append(harness)
        return harness

    yield _start
    for harness in started:
        harness.server.stop()
        harness.identity.engine.dispose()


def model_section(*urls: str, **extra: Any) -> dict[str, Any]:
    return {"upstreams": list(urls), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- PostgreSQL ---------------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresCluster:
    bin_dir: Path
    data_dir: Path
    port: int
    run_as: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.url(name)

    def pg_ctl(self, *args: str) -> None:
        subprocess.run([*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                        *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server is not installed (Debian package: postgresql; "
                    ".ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="moat-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to start PostgreSQL as postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "--no-sync", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    cluster = PostgresCluster(bin_dir, data, free_port(), run_as)
    options = (f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c full_page_writes=off -c synchronous_commit=off")
    cluster.pg_ctl("-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield cluster
    finally:
        cluster.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
