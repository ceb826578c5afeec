"""The allowlist network mode end to end: real bubblewrap, real proxy, real servers on the host."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from moatcode.sandbox.base import SandboxPolicy
from moatcode.sandbox.bwrap import BwrapSandbox
from moatcode.sandbox.proxy import ProxyDecision

from .conftest import PATH_ENV, MakeSandbox

CURL = "/usr/bin/curl"


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        assert isinstance(self.server, ThreadingHTTPServer)
        body = f"hello from {self.server.server_port} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@pytest.fixture
def servers() -> Iterator[tuple[int, int]]:
    """Two HTTP servers on the host's 127.0.0.1: (allowed port, other port)."""
    running = [ThreadingHTTPServer(("127.0.0.1", 0), _Hello) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in running]
    for thread in threads:
        thread.start()
    yield running[0].server_address[1], running[1].server_address[1]
    for server, thread in zip(running, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def allowlisted(
    need_bwrap: None,
    workspace: Path,
    home: Path,
    tmp_path: Path,
    servers: tuple[int, int],
) -> tuple[BwrapSandbox, list[ProxyDecision]]:
    decisions: list[ProxyDecision] = []
    policy = SandboxPolicy(
        writable_roots=(workspace,),
        network="allowlist",
        allowed_hosts=(f"127.0.0.1:{servers[0]}", "*.example.internal"),
    )
    sandbox = BwrapSandbox(policy, home=home, on_network=decisions.append, runtime_dir=tmp_path)
    return sandbox, decisions


def test_allowed_host_is_reached_through_the_proxy(
    allowlisted: tuple[BwrapSandbox, list[ProxyDecision]],
    workspace: Path,
    servers: tuple[int, int],
) -> None:
    if not Path(CURL).exists():
        pytest.skip("curl is not installed (apt-get install curl)")
    sandbox, decisions = allowlisted
    allowed = servers[0]
    result = sandbox.run(
        [CURL, "-sS", "--max-time", "10", f"http://127.0.0.1:{allowed}/plain"],
        workspace,
        30,
        PATH_ENV,
    )
    assert (result.exit_code, result.output) == (0, f"hello from {allowed} /plain\n".encode())
    assert decisions == [ProxyDecision("GET", "127.0.0.1", allowed, True, f"127.0.0.1:{allowed}")]


def test_connect_tunnel_to_an_allowed_host(
    allowlisted: tuple[BwrapSandbox, list[ProxyDecision]],
    workspace: Path,
    servers: tuple[int, int],
) -> None:
    if not Path(CURL).exists():
        pytest.skip("curl is not installed (apt-get install curl)")
    sandbox, decisions = allowlisted
    allowed = servers[0]
    result = sandbox.run(
        [CURL, "-sS", "--proxytunnel", "--max-time", "10", f"http://127.0.0.1:{allowed}/tunnel"],
        workspace,
        30,
        PATH_ENV,
    )
    assert (result.exit_code, result.output) == (0, f"hello from {allowed} /tunnel\n".encode())
    assert decisions == [
        ProxyDecision("CONNECT", "127.0.0.1", allowed, True, f"127.0.0.1:{allowed}")
    ]


def test_other_port_is_refused_with_a_clear_message(
    allowlisted: tuple[BwrapSandbox, list[ProxyDecision]],
    workspace: Path,
    servers: tuple[int, int],
) -> None:
    if not Path(CURL).exists():
        pytest.skip("curl is not installed (apt-get install curl)")
    sandbox, decisions = allowlisted
    other = servers[1]
    result = sandbox.run(
        [CURL, "-sS", "--max-time", "10", f"http://127.0.0.1:{other}/"], workspace, 30, PATH_ENV
    )
    assert (
        result.output
        == (
            f"Moat's sandbox proxy refused 127.0.0.1:{other}: it is not on the network "
            "allowlist (the sandbox's allowed_hosts setting).\n"
        ).encode()
    )
    assert decisions == [
        ProxyDecision("GET", "127.0.0.1", other, False, None, "not on the allowlist")
    ]


def test_python_client_and_direct_connections(
    allowlisted: tuple[BwrapSandbox, list[ProxyDecision]],
    workspace: Path,
    servers: tuple[int, int],
    python_paths: tuple[Path, ...],
    home: Path,
) -> None:
    _, decisions = allowlisted
    allowed, other = servers
    script = (
        "import socket, urllib.request, urllib.error\n"
        f"print(urllib.request.urlopen('http://127.0.0.1:{allowed}/py').read().decode(), end='')\n"
        "try:\n"
        f"    urllib.request.urlopen('http://127.0.0.1:{other}/py')\n"
        "except urllib.error.HTTPError as exc:\n"
        "    print('refused', exc.code)\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {allowed}), timeout=2)\n"
        "except OSError as exc:\n"
        "    print('direct', type(exc).__name__)\n"
    )
    policy = SandboxPolicy(
        writable_roots=(workspace,),
        readable_paths=python_paths,
        network="allowlist",
        allowed_hosts=(f"127.0.0.1:{allowed}",),
    )
    sandbox = BwrapSandbox(policy, home=home, on_network=decisions.append)
    result = sandbox.run([sys.executable, "-c", script], workspace, 30, PATH_ENV)
    # The sandbox's own 127.0.0.1 is not the host's: only the proxy gets out.
    assert result.output == (
        f"hello from {allowed} /py\nrefused 403\ndirect ConnectionRefusedError\n".encode()
    )
    assert [(d.port, d.allowed) for d in decisions] == [(allowed, True), (other, False)]


def test_proxy_environment_points_at_the_forwarder(
    allowlisted: tuple[BwrapSandbox, list[ProxyDecision]], workspace: Path, home: Path
) -> None:
    sandbox, _ = allowlisted
    result = sandbox.run(["/usr/bin/env"], workspace, 30, {"ONLY": "this"})
    names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    assert sorted(result.output.decode().splitlines()) == sorted(
        [
            "ONLY=this",
            f"HOME={home}",
            "TMPDIR=/tmp",
            f"PWD={workspace}",
            *(f"{name}=http://127.0.0.1:3128" for name in names),
        ]
    )


def test_exit_code_passes_through_the_forwarder(
    allowlisted: tuple[BwrapSandbox, list[ProxyDecision]], workspace: Path
) -> None:
    sandbox, _ = allowlisted
    assert sandbox.run(["sh", "-c", "exit 9"], workspace, 30, PATH_ENV).exit_code == 9
    missing = sandbox.run(["moat-no-such-command"], workspace, 30, PATH_ENV)
    assert (missing.exit_code, missing.output) == (
        127,
        b"moat-no-such-command: command not found\n",
    )


def test_host_network_mode_shares_the_host_loopback(
    make_sandbox: MakeSandbox, workspace: Path, servers: tuple[int, int]
) -> None:
    script = (
        "import urllib.request\n"
        f"print(urllib.request.urlopen('http://127.0.0.1:{servers[0]}/host').read().decode())\n"
    )
    result = make_sandbox(network="host").run([sys.executable, "-c", script], workspace, 30, {})
    assert result.output == f"hello from {servers[0]} /host\n\n".encode()
