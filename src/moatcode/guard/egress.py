"""The one way Moat's own process opens a connection: an allowlisted HTTP client.

Every outbound connection goes through ``create_http_client``, whose transport
refuses any host and port not on the allowlist before a socket is opened. By
default the allowlist holds only the configured model endpoint (or the
gateway). Redirects are never followed, so a server cannot send Moat elsewhere.
Moat makes no other connection of any kind: no telemetry, no update check,
no web fetch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        return cls(parts.scheme, parts.hostname.lower(),
                   parts.port or _DEFAULT_PORTS[parts.scheme])

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class EgressDenied(httpx.TransportError):
    """A connection to a host that is not on the allowlist was refused."""


class AllowlistTransport(httpx.BaseTransport):
    def __init__(self, allowed: Iterable[Endpoint], inner: httpx.BaseTransport) -> None:
        self._allowed = frozenset(allowed)
        self._inner = inner

    @property
    def allowed(self) -> frozenset[Endpoint]:
        return self._allowed

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        target = Endpoint(url.scheme, (url.host or "").lower(),
                          url.port or _DEFAULT_PORTS.get(url.scheme, 0))
        if target not in self._allowed:
            log.warning("egress refused: %s", target)
            raise EgressDenied(
                f"Moat refused to connect to {target}: it is not the configured model "
                "endpoint or gateway.", request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def create_http_client(allowed_urls: Iterable[str], timeout_s: float,
                       api_key: str | None = None) -> httpx.Client:
    """An ``httpx.Client`` that can reach only ``allowed_urls`` (scheme, host, port)."""
    allowed = [Endpoint.from_url(url) for url in allowed_urls]
    transport = AllowlistTransport(allowed, httpx.HTTPTransport(retries=0))
    headers = {"User-Agent": "moat"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout_s, connect=10.0),
        follow_redirects=False,
        headers=headers,
        # No proxy from the environment: a proxy would be a second, unlisted peer.
        trust_env=False,
    )
