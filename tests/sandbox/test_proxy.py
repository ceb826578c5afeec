"""The host side of the egress proxy, driven over its Unix socket like the forwarder does."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from moatcode.sandbox.allowlist import parse_allowlist
from moatcode.sandbox.proxy import EgressProxy, ProxyDecision


class Upstream:
    """A TCP server on 127.0.0.1 that records what it receives and answers with a fixed reply."""

    def __init__(self, reply: bytes = b"") -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.received = b""
        self.reply = reply
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return  # closed without a client
        with conn:
            while b"\r\n\r\n" not in self.received and b"ping" not in self.received:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                self.received += chunk
            conn.sendall(self.reply)

    def close(self) -> None:
        # shutdown() wakes a thread blocked in accept(); close() alone does not.
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream(reply=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    yield server
    server.close()


@pytest.fixture
def decisions() -> list[ProxyDecision]:
    return []


@pytest.fixture
def proxy(
    tmp_path: Path, upstream: Upstream, decisions: list[ProxyDecision]
) -> Iterator[EgressProxy]:
    rules = parse_allowlist([f"127.0.0.1:{upstream.port}", "*.example.internal"])
    with EgressProxy(tmp_path / "proxy.sock", rules, decisions.append) as running:
        yield running


def ask(proxy: EgressProxy, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(proxy.socket_path))
        client.sendall(request)
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
        return answer


def test_absolute_uri_request_is_forwarded_in_origin_form(
    proxy: EgressProxy, upstream: Upstream, decisions: list[ProxyDecision]
) -> None:
    answer = ask(
        proxy,
        f"GET http://127.0.0.1:{upstream.port}/a/b?c=1 HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{upstream.port}\r\nProxy-Authorization: Basic c2VjcmV0\r\n"
        "Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n".encode(),
    )
    assert answer == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert upstream.received == (
        f"GET /a/b?c=1 HTTP/1.1\r\nHost: 127.0.0.1:{upstream.port}\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    assert decisions == [
        ProxyDecision("GET", "127.0.0.1", upstream.port, True, f"127.0.0.1:{upstream.port}")
    ]


def test_connect_opens_a_tunnel(
    proxy: EgressProxy, upstream: Upstream, decisions: list[ProxyDecision]
) -> None:
    upstream.reply = b"pong"
    answer = ask(proxy, f"CONNECT 127.0.0.1:{upstream.port} HTTP/1.1\r\n\r\nping".encode())
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\npong"
    assert upstream.received == b"ping"
    assert [d.method for d in decisions] == ["CONNECT"]


@pytest.mark.parametrize(
    ("request_line", "host", "port"),
    [
        ("CONNECT 127.0.0.1:1 HTTP/1.1", "127.0.0.1", 1),
        ("CONNECT other.internal:443 HTTP/1.1", "other.internal", 443),
        ("GET http://example.internal/ HTTP/1.1", "example.internal", 80),
    ],
)
def test_hosts_not_on_the_allowlist_are_refused(
    proxy: EgressProxy,
    decisions: list[ProxyDecision],
    request_line: str,
    host: str,
    port: int,
) -> None:
    answer = ask(proxy, f"{request_line}\r\n\r\n".encode())
    body = (
        f"Moat's sandbox proxy refused {host}:{port}: it is not on the network allowlist "
        "(the sandbox's allowed_hosts setting).\n"
    ).encode()
    assert answer == (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    method = request_line.split()[0]
    assert decisions == [ProxyDecision(method, host, port, False, None, "not on the allowlist")]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /relative HTTP/1.1\r\n\r\n",
        b"GET https://x.example.internal/ HTTP/1.1\r\n\r\n",
        b"CONNECT x.example.internal HTTP/1.1\r\n\r\n",
        b"garbage\r\n\r\n",
        b"GET http://x.example.internal:99999/ HTTP/1.1\r\n\r\n",
    ],
)
def test_unreadable_requests_get_400(
    proxy: EgressProxy, decisions: list[ProxyDecision], raw: bytes
) -> None:
    assert ask(proxy, raw).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert decisions == []


def test_allowed_but_unreachable_is_502(tmp_path: Path, decisions: list[ProxyDecision]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    # Nothing listens on the port any more.
    rules = parse_allowlist([f"127.0.0.1:{port}"])
    with EgressProxy(tmp_path / "p.sock", rules, decisions.append) as proxy:
        answer = ask(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"could not reach 127.0.0.1:" in answer
    assert [(d.allowed, d.rule, "refused" in d.detail) for d in decisions] == [
        (True, f"127.0.0.1:{port}", True)
    ]


def test_close_ends_open_tunnels_and_removes_the_socket(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    proxy = EgressProxy(tmp_path / "p.sock", parse_allowlist([f"127.0.0.1:{port}"]))
    proxy.start()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(10)
    client.connect(str(proxy.socket_path))
    client.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert client.recv(100) == b"HTTP/1.1 200 Connection established\r\n\r\n"
    # The upstream never says anything: only close() can end this tunnel.
    proxy.close()
    assert client.recv(100) == b""
    assert not proxy.socket_path.exists()
    client.close()
    silent.close()


def test_connection_limit(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0), backlog=8)
    port = silent.getsockname()[1]
    rules = parse_allowlist([f"127.0.0.1:{port}"])
    clients = []
    with EgressProxy(tmp_path / "p.sock", rules, max_connections=2) as proxy:
        for _ in range(2):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(10)
            client.connect(str(proxy.socket_path))
            client.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
            assert client.recv(100).startswith(b"HTTP/1.1 200")
            clients.append(client)
        # Refused on arrival, before the request is even read.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as extra:
            extra.settimeout(10)
            extra.connect(str(proxy.socket_path))
            assert extra.recv(100).startswith(b"HTTP/1.1 503 Unavailable\r\n")
    for client in clients:
        client.close()
    silent.close()
