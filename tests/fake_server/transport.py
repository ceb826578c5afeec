"""The fake model server's HTTP plumbing: a threaded server that writes answers.

It knows nothing of chat completions: each request goes to a ``Responder``
callable, and the ``Answer`` it returns is written as a whole body or as
chunked SSE events, slowly or cut short when the answer says so. Handler
threads are joined on close and idle keep-alive connections are shut down,
so nothing outlives ``close()``.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """What to write: a whole body, or SSE events when ``events`` is set."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    events: tuple[bytes, ...] | None = None
    # Between events; before the whole answer when there are no events.
    delay_s: float = 0.0
    # Drop the connection after this many events (for a whole body: halfway).
    cut_after: int | None = None


# (method, path, headers with lower-case names, body) -> the answer
Responder = Callable[[str, str, dict[str, str], bytes], Answer]


class HTTPTransport(ThreadingHTTPServer):
    """Serves ``responder`` on 127.0.0.1 at a free port; ``on_error`` hears of its bugs."""

    # Handler threads are joined by server_close(), so nothing outlives close().
    daemon_threads = False
    block_on_close = True

    def __init__(self, responder: Responder, on_error: Callable[[str], None]) -> None:
        self.responder = responder
        self.on_error = on_error
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up, which can wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.port

    def open(self) -> None:
        # A short poll interval keeps close() fast; it costs nothing measurable.
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-model-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving, end slow answers and idle connections, join every thread."""
        self.stopping.set()
        self.shutdown()
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            shutdown_socket(connection)
        self.server_close()
        if self._thread is not None:
            self._thread.join()

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            if is_open:
                self._open.add(connection)
            else:
                self._open.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is normal (timeouts, cancelled streams); anything
        # else is a bug in the fake, and must fail the test rather than scroll by.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        self.on_error("the fake server failed:\n" + traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's
    # algorithm and delayed ACKs add 40 ms to answers on a reused connection.
    disable_nagle_algorithm = True
    server: HTTPTransport

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read the recorded requests, not a log on stderr

    def _serve(self) -> None:
        try:
            body = self._read_body()
            headers = {name.lower(): value for name, value in self.headers.items()}
            self._write(self.server.responder(self.command, self.path, headers, body))
        except ConnectionError:
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = self.headers.get("content-length")
        if length is not None:
            return self.rfile.read(int(length))
        if self.headers.get("transfer-encoding", "").lower() != "chunked":
            return b""
        parts = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def _write(self, answer: Answer) -> None:
        stopping = self.server.stopping
        if answer.events is None and answer.delay_s and stopping.wait(answer.delay_s):
            return self._drop()
        self.send_response(answer.status)
        self.send_header("content-type", answer.content_type)
        for name, value in answer.headers:
            self.send_header(name, value)
        if answer.events is None:
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            if answer.cut_after is not None:
                self.wfile.write(answer.body[: len(answer.body) // 2])
                return self._drop()
            self.wfile.write(answer.body)
            return None
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for n, event in enumerate(answer.events):
            if n == answer.cut_after:
                return self._drop()
            if n and answer.delay_s and stopping.wait(answer.delay_s):
                return self._drop()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")
        return None

    def _drop(self) -> None:
        self.close_connection = True
        shutdown_socket(self.connection)


def shutdown_socket(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the other side may have closed it already
        connection.shutdown(socket.SHUT_RDWR)
