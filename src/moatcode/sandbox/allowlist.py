"""The sandbox network allowlist: which hosts and ports the egress proxy lets through.

An entry is ``host`` (any port), ``host:port``, ``*.domain`` (any name below
``domain``, not ``domain`` itself), ``*.domain:port``, an IPv4 address, or an
IPv6 address in brackets (``[::1]:8080``). Names compare without case and
without a trailing dot. The proxy only ever connects to the name it matched,
so an entry means exactly what it says.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from moatcode.errors import ConfigError

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")


@dataclass(frozen=True)
class HostRule:
    host: str  # normalised; for a wildcard, the domain below which names match
    port: int | None  # None: any port
    wildcard: bool = False

    @property
    def text(self) -> str:
        host = f"*.{self.host}" if self.wildcard else self.host
        if ":" in host:
            host = f"[{host}]"
        return host if self.port is None else f"{host}:{self.port}"

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def parse_allowlist(entries: Iterable[str]) -> tuple[HostRule, ...]:
    """Parse ``allowed_hosts``; an entry that is not a host or host:port is a ConfigError."""
    rules: list[HostRule] = []
    for entry in entries:
        rule = _parse_entry(entry)
        if rule is None:
            raise ConfigError(
                f"The sandbox network allowlist entry {entry!r} is not a host, host:port "
                "or *.domain; correct it in allowed_hosts."
            )
        rules.append(rule)
    return tuple(rules)


def match_host(rules: tuple[HostRule, ...], host: str, port: int) -> HostRule | None:
    """The first rule allowing ``host:port``, or None (also for a name we cannot read)."""
    name = normalise_host(host)
    if name is None:
        return None
    return next((rule for rule in rules if rule.matches(name, port)), None)


def normalise_host(host: str) -> str | None:
    """Lower-case name without trailing dot, or canonical IP text; None if neither."""
    raw = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    name = raw.lower().rstrip(".")
    if not name or len(name) > 253 or not name.isascii():
        return None
    if all(_LABEL.fullmatch(label) for label in name.split(".")):
        return name
    return None


def split_host_port(text: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` -> (host, port); None if malformed."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            return None
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return None
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        return text, None  # a bare IPv6 address
    else:
        return text, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


def _parse_entry(entry: str) -> HostRule | None:
    split = split_host_port(entry.strip())
    if split is None:
        return None
    host, port = split
    wildcard = host.startswith("*.")
    name = normalise_host(host[2:] if wildcard else host)
    if name is None or (wildcard and ":" in name):
        return None
    return HostRule(name, port, wildcard)
