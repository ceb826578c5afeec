"""The agent's side of the gateway: fetching the signed policy, shipping audit records.

Runs in the ``moat`` process, so it imports neither FastAPI nor SQLAlchemy,
and every connection goes through the egress guard's client, which reaches
only the gateway.

``fetch_policy`` fails closed: it returns a policy whose signature verifies
with the key pinned in the managed file, fresh from the gateway or, if the
managed file allows it, a cached copy no older than ``max_cache_age_s``
(measured from the signed issue time, so touching the file does not help);
otherwise it raises ``PolicyError`` and Moat does not run.

``AuditShipper`` copies the local audit store to the gateway: it asks the
gateway for the last record it holds of this store's chain, reads the local
records after it (from that record's time on, so only the tail is read), and
posts them in batches, every ``interval_s`` in a background thread and once
more at ``close``. Because it always resumes from what the gateway says it
has, records that could not be sent (gateway down, laptop offline) go with
the next flush or the next session.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from moatcode.audit.store import AuditStore
from moatcode.errors import ConfigError, MoatError, PolicyError
from moatcode.gateway.policy_doc import BadPolicy, parse_public_key, verify_policy
from moatcode.guard.egress import create_http_client

log = logging.getLogger(__name__)

# A signed issue time this far ahead of our clock is refused: clocks drift, not this much.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(UTC)


def api_url(gateway_url: str, path: str) -> str:
    """``path`` under the gateway's ``/v1``, whether or not ``gateway_url`` ends in it."""
    base = gateway_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return f"{base}/{path.lstrip('/')}"


# -- the managed policy ----------------------------------------------------------


@dataclass(frozen=True)
class FetchedPolicy:
    policy: dict[str, Any]
    source: str  # "gateway" | "cache"
    issued_at: datetime
    age_s: float


def fetch_policy(
    url: str,
    token: str | None,
    pinned_public_key: str,
    cache_dir: Path,
    max_cache_age_s: float,
    *,
    timeout_s: float = 10.0,
    clock: Callable[[], datetime] = _now,
) -> dict[str, Any]:
    """The verified managed-policy document (the shape of ``/etc/moat/managed.toml``)."""
    return fetch_policy_document(url, token, pinned_public_key, cache_dir, max_cache_age_s,
                                 timeout_s=timeout_s, clock=clock).policy


def fetch_policy_document(
    url: str,
    token: str | None,
    pinned_public_key: str,
    cache_dir: Path,
    max_cache_age_s: float,
    *,
    timeout_s: float = 10.0,
    clock: Callable[[], datetime] = _now,
) -> FetchedPolicy:
    """``fetch_policy``, also saying where the policy came from and how old it is."""
    try:
        key = parse_public_key(pinned_public_key)
    except ConfigError as exc:
        raise PolicyError(str(exc)) from exc
    endpoint = api_url(url, "policy")
    cache = cache_dir / f"gateway-policy-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json"
    now = clock()
    try:
        raw, document = _download(endpoint, token, timeout_s)
        verified = verify_policy(document, key)
        if verified.issued_at - now > MAX_CLOCK_SKEW:
            raise BadPolicy("it was issued in the future: check this machine's clock")
    except _Unavailable as exc:
        reason = str(exc)
    except BadPolicy as exc:
        reason = f"the policy it sent is not valid: {exc}"
    else:
        _write_cache(cache, raw)
        return FetchedPolicy(verified.policy, "gateway", verified.issued_at,
                             (now - verified.issued_at).total_seconds())
    cached = _read_cache(cache, key, now, max_cache_age_s) if max_cache_age_s > 0 else None
    if cached is not None:
        log.warning("using the cached gateway policy (%s); %s", cache, reason)
        return cached
    offline = (" and no cached copy is recent enough" if max_cache_age_s > 0 else "")
    raise PolicyError(
        f"Moat cannot get a valid policy from the gateway at {url} ({reason}){offline}; "
        "check that the gateway is reachable and MOAT_GATEWAY_TOKEN is valid, or ask your "
        "administrator."
    )


class _Unavailable(Exception):
    """The gateway did not hand over a policy document."""


def _download(endpoint: str, token: str | None, timeout_s: float) -> tuple[bytes, Any]:
    try:
        with create_http_client([endpoint], timeout_s, token) as http:
            response = http.get(endpoint)
    except httpx.HTTPError as exc:
        raise _Unavailable(f"no answer: {exc}") from exc
    if response.status_code in (401, 403):
        raise _Unavailable(f"it refused the token with HTTP {response.status_code}")
    if response.status_code != 200:
        raise _Unavailable(f"it answered HTTP {response.status_code}")
    try:
        return response.content, json.loads(response.content)
    except ValueError as exc:
        raise _Unavailable("its answer is not JSON") from exc


def _write_cache(path: Path, raw: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(temp, path)
    except OSError as exc:
        log.warning("could not cache the gateway policy at %s: %s", path, exc)


def _read_cache(path: Path, key: Any, now: datetime, max_age_s: float) -> FetchedPolicy | None:
    try:
        verified = verify_policy(json.loads(path.read_bytes()), key)
    except (OSError, ValueError):
        return None  # BadPolicy is a ValueError: a tampered cache is no cache
    age = (now - verified.issued_at).total_seconds()
    if age > max_age_s or -age > MAX_CLOCK_SKEW.total_seconds():
        return None
    return FetchedPolicy(verified.policy, "cache", verified.issued_at, age)


# -- shipping audit records --------------------------------------------------------


@dataclass(frozen=True)
class ShipResult:
    """What a flush did: records sent, the gateway's head after it, what it flagged."""

    sent: int
    head_seq: int
    problems: tuple[dict[str, Any], ...] = ()
    error: str = ""


class AuditShipper:
    """Copies one local audit store to the gateway, resuming from the gateway's head."""

    def __init__(
        self,
        gateway_url: str,
        token: str,
        store_path: Path,
        *,
        interval_s: float = 5.0,
        timeout_s: float = 30.0,
        batch_records: int = 500,
        batch_bytes: int = 4 * 1024 * 1024,
        http: httpx.Client | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.store_path = store_path
        self.interval_s = interval_s
        self.batch_records = batch_records
        self.batch_bytes = batch_bytes
        self._records_url = api_url(gateway_url, "audit/records")
        self._head_url = api_url(gateway_url, "audit/head")
        self._http = http or create_http_client([gateway_url], timeout_s, token)
        self._chain_id: str | None = None
        self._head: tuple[int, str] | None = None  # (seq, at) the gateway said it holds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.problems: list[dict[str, Any]] = []

    def start(self) -> None:
        """Flush every ``interval_s`` in a background thread until ``close``."""
        self._thread = threading.Thread(target=self._run, name="moat-audit-shipper",
                                        daemon=True)
        self._thread.start()

    def close(self) -> ShipResult:
        """Stop the thread and ship what is left; never raises for a network failure."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            return self.flush()
        finally:
            self._http.close()

    def flush(self) -> ShipResult:
        """Send every local record the gateway does not hold yet."""
        with self._lock:
            try:
                return self._flush()
            except (httpx.HTTPError, _Unavailable, MoatError) as exc:
                self._head = None  # ask again next time
                log.warning("audit records not shipped to %s yet: %s", self.gateway_url, exc)
                return ShipResult(0, -1, (), str(exc))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def _flush(self) -> ShipResult:
        if not self.store_path.exists():
            return ShipResult(0, 0)
        chain_id = self._chain_id or self._read_chain_id()
        if chain_id is None:
            return ShipResult(0, 0)
        self._chain_id = chain_id
        if self._head is None:
            self._head = self._ask_head(chain_id)
        seq, at = self._head
        sent = 0
        problems: list[dict[str, Any]] = []
        for batch in self._batches(seq, at):
            answer = self._post(chain_id, batch)
            head = answer.get("head") or {}
            self._head = (int(head.get("seq", 0)), str(head.get("at", "")))
            sent += len(batch)
            problems.extend(answer.get("problems") or [])
        self.problems.extend(problems)
        return ShipResult(sent, self._head[0], tuple(problems))

    def _read_chain_id(self) -> str | None:
        with AuditStore.open_readonly(self.store_path) as store:
            for row in store.rows():
                return str(row.hash)
        return None

    def _ask_head(self, chain_id: str) -> tuple[int, str]:
        response = self._http.get(self._head_url, params={"chain": chain_id})
        data = _answer(response)
        return int(data.get("seq", 0)), str(data.get("at", ""))

    def _post(self, chain_id: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
        body = json.dumps({"chain": chain_id, "records": batch}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        response = self._http.post(self._records_url, content=body,
                                   headers={"content-type": "application/json"})
        return _answer(response)

    def _batches(self, after_seq: int, after_at: str) -> Iterator[list[dict[str, Any]]]:
        since = _parse_at(after_at) if after_seq else None
        batch: list[dict[str, Any]] = []
        size = 0
        with AuditStore.open_readonly(self.store_path) as store:
            for row in store.rows(since=since):
                if not isinstance(row.seq, int) or row.seq <= after_seq:
                    continue
                record = {"v": row.v, "seq": row.seq, "at": row.at, "session": row.session,
                          "kind": row.kind, "data": json.loads(row.data),
                          "prev_hash": row.prev_hash, "hash": row.hash}
                length = len(row.data) + 300
                if batch and (len(batch) >= self.batch_records or size + length > self.batch_bytes):
                    yield batch
                    batch, size = [], 0
                batch.append(record)
                size += length
        if batch:
            yield batch


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise _Unavailable(f"the gateway answered HTTP {response.status_code}: "
                           f"{response.text[:200]}")
    try:
        data = response.json()
    except ValueError as exc:
        raise _Unavailable("the gateway's answer is not JSON") from exc
    if not isinstance(data, dict):
        raise _Unavailable("the gateway's answer is not a JSON object")
    return data


def _parse_at(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
