from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest

from moatcode.guard.egress import EgressDenied, Endpoint, create_http_client


class _Redirect(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://10.9.9.9:8000/steal")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_hosts_not_on_the_list_are_refused_before_connecting() -> None:
    with create_http_client(["http://127.0.0.1:8000/v1"], 5) as client:
        for url in ("http://127.0.0.2:8000/v1/models", "http://127.0.0.1:8001/v1/models",
                    "https://127.0.0.1:8000/v1/models", "http://localhost:8000/v1/models"):
            with pytest.raises(EgressDenied, match="not the configured model endpoint"):
                client.get(url)


def test_redirects_are_not_followed(redirecting_server: str) -> None:
    with create_http_client([redirecting_server], 5) as client:
        response = client.get(f"{redirecting_server}/v1/models")
        assert response.status_code == 302
        with pytest.raises(EgressDenied):
            client.get(response.headers["location"])


def test_no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.1.1.1:3128")
    with create_http_client(["http://127.0.0.1:9/v1"], 2) as client:
        with pytest.raises(httpx.ConnectError):
            client.get("http://127.0.0.1:9/v1/models")


def test_endpoint_parsing() -> None:
    assert Endpoint.from_url("https://Models.Internal/v1") == Endpoint("https", "models.internal",
                                                                        443)
    with pytest.raises(ValueError):
        Endpoint.from_url("ftp://x")
