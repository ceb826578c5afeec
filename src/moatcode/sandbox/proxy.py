"""The egress proxy: the one way out of a sandbox whose network policy is an allowlist.

It listens on a Unix socket that is bound into the sandbox (the sandbox has no
network route at all; a forwarder inside relays its loopback proxy port to
this socket). It speaks HTTP CONNECT and plain absolute-URI HTTP, checks the
host and port against the allowlist, refuses the rest with ``403`` and a
message naming the setting, resolves and connects itself, and reports each
decision to ``on_decision`` (called on the proxy's own threads).

One thread accepts; each connection gets one thread that reads the request
head and then relays both directions. At most ``max_connections`` are open at
once (the sandbox's process limit does not bound threads here). ``close()``
stops accepting and shuts every open connection, so nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from moatcode.sandbox.allowlist import HostRule, match_host, normalise_host, split_host_port

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
_HEAD_TIMEOUT_S = 30.0
_HOP_HEADERS = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization"}


@dataclass(frozen=True)
class ProxyDecision:
    method: str  # CONNECT, GET, POST...
    host: str
    port: int
    allowed: bool
    rule: str | None  # the allowlist entry that allowed it
    detail: str = ""  # why it was refused, or why the allowed connection failed


class EgressProxy:
    def __init__(
        self,
        socket_path: Path,
        rules: tuple[HostRule, ...],
        on_decision: Callable[[ProxyDecision], None] | None = None,
        *,
        connect_timeout: float = 10.0,
        max_connections: int = 64,
    ) -> None:
        self.socket_path = socket_path
        self._rules = rules
        self._on_decision = on_decision
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._listener: socket.socket | None = None
        self._accepter: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._closing = False

    def start(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._wake_r, self._wake_w = os.pipe()
        self._accepter = threading.Thread(target=self._accept_loop, name="moat-proxy", daemon=True)
        self._accepter.start()

    def close(self) -> None:
        if self._listener is None:
            return
        os.write(self._wake_w, b"x")
        assert self._accepter is not None
        self._accepter.join()
        self._listener.close()
        self._listener = None
        with self._lock:
            self._closing = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        # A thread still inside connect() notices _closing when it returns; do not wait for it.
        for thread in threads:
            thread.join(timeout=1.0)
        os.close(self._wake_r)
        os.close(self._wake_w)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def __enter__(self) -> EgressProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ, "accept")
            sel.register(self._wake_r, selectors.EVENT_READ, "wake")
            while True:
                for key, _ in sel.select():
                    if key.data == "wake":
                        return
                    try:
                        conn, _ = self._listener.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(True)
                    self._spawn(conn)

    def _spawn(self, conn: socket.socket) -> None:
        with self._lock:
            if len(self._threads) >= self._max_connections:
                _reply(conn, 503, "Moat's sandbox proxy has too many open connections.")
                _close_read(conn)
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._open.add(conn)
            self._threads.add(thread)
        thread.start()

    def _serve(self, conn: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            upstream = self._open_upstream(conn)
            if upstream is not None:
                _relay(conn, upstream)
        except OSError as exc:
            log.debug("proxy connection ended: %s", exc)
        finally:
            with self._lock:
                self._open.discard(conn)
                if upstream is not None:
                    self._open.discard(upstream)
                self._threads.discard(threading.current_thread())
            conn.close()
            if upstream is not None:
                upstream.close()

    def _open_upstream(self, conn: socket.socket) -> socket.socket | None:
        """Read the request, decide, connect; None when the client got an error reply."""
        conn.settimeout(_HEAD_TIMEOUT_S)
        head, rest = _read_head(conn)
        conn.settimeout(None)
        request = _parse_request(head) if head is not None else None
        if request is None:
            _reply(conn, 400, "Moat's sandbox proxy could not read this request.")
            return None
        method, host, port, forward_head = request
        rule = match_host(self._rules, host, port)
        if rule is None:
            self._decide(ProxyDecision(method, host, port, False, None, "not on the allowlist"))
            _reply(
                conn,
                403,
                f"Moat's sandbox proxy refused {host}:{port}: it is not on the network "
                "allowlist (the sandbox's allowed_hosts setting).",
            )
            return None
        try:
            upstream = socket.create_connection((host, port), timeout=self._connect_timeout)
        except OSError as exc:
            self._decide(ProxyDecision(method, host, port, True, rule.text, str(exc)))
            _reply(conn, 502, f"Moat's sandbox proxy could not reach {host}:{port}: {exc}.")
            return None
        upstream.settimeout(None)
        with self._lock:
            if self._closing:
                upstream.close()
                return None
            self._open.add(upstream)
        self._decide(ProxyDecision(method, host, port, True, rule.text))
        if forward_head is None:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream.sendall(forward_head)
        if rest:
            upstream.sendall(rest)
        return upstream

    def _decide(self, decision: ProxyDecision) -> None:
        log.debug("proxy decision: %s", decision)
        if self._on_decision is not None:
            self._on_decision(decision)


def _read_head(conn: socket.socket) -> tuple[bytes | None, bytes]:
    """The request head (without the blank line) and any bytes after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            return None, b""
        chunk = conn.recv(8192)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_request(head: bytes) -> tuple[str, str, int, bytes | None] | None:
    """(method, host, port, head to send upstream or None for CONNECT), or None."""
    lines = head.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    method, target, version = parts
    if method == "CONNECT":
        split = split_host_port(target)
        if split is None:
            return None
        host, connect_port = split
        name = normalise_host(host)
        if name is None or connect_port is None:
            return None
        return method, name, connect_port, None
    try:
        url = urlsplit(target)
        port = url.port or 80
    except ValueError:
        return None
    if url.scheme != "http" or not url.hostname:
        return None
    name = normalise_host(url.hostname)
    if name is None:
        return None
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    headers = [
        line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS
    ]
    # One request per connection: the next one might be for another host.
    out = [f"{method} {path} {version}".encode("latin-1"), *headers, b"Connection: close"]
    return method, name, port, b"\r\n".join(out) + b"\r\n\r\n"


def _reply(conn: socket.socket, status: int, message: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Unavailable"}
    body = (message + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        conn.sendall(head.encode() + body)


def _close_read(conn: socket.socket) -> None:
    """Close after reading what already arrived: unread data would turn our reply into a reset."""
    conn.setblocking(False)
    with contextlib.suppress(OSError):
        while conn.recv(1 << 16):
            pass
    conn.close()


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both sides have finished sending."""
    peers = {a: b, b: a}
    with selectors.DefaultSelector() as sel:
        for sock in peers:
            sel.register(sock, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                src = key.fileobj
                assert isinstance(src, socket.socket)
                try:
                    data = src.recv(1 << 16)
                except OSError:
                    data = b""
                dst = peers[src]
                if data:
                    dst.sendall(data)
                    continue
                sel.unregister(src)
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
