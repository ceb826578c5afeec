"""Gateway overhead: direct to a model server versus through the gateway, in one run.

Starts a fast fake model server (asyncio, in its own process) and a real
gateway (``moat gateway serve`` in its own process, SQLite store, access log
on, bodies stored), then drives both with the same client, alternating
direct and gateway rounds so that load from other processes hits both alike:

- concurrency 1, 16 and 64, streamed (32 chunks) and not: requests per
  second, time to first byte (first event for a stream), total latency (p50,
  p99), the gateway's CPU time per request (from /proc/PID/stat, all its
  threads) and its memory;
- paced streams like a model server's (32 chunks, 20 ms apart) at
  concurrency 64 and 256, started spread over one stream's length, with each
  round's added p99, how bunched the requests arrive, and the gateway's own
  time to first byte (from its audit records, after the run).

Every round prints the share of the machine's CPU the hypervisor took (steal,
from /proc/stat): on a shared virtual machine it is part of every tail.
``--probe`` also watches the gateway's event loop for stalls and says what
held them up (``_loop_probe.py``).

The load generator and the fake server share the two cores with the gateway,
so they are written to cost as little as they can: each is one asyncio
protocol (on uvloop when it is installed) that parses and writes in its
``data_received`` callback, with no coroutine woken per event. Their CPU is
measured in every round and printed next to the gateway's, so a run where one
of them, rather than the gateway, ran out of CPU shows it.

Prints figures and ratios, asserts nothing, stops by itself, uses only
127.0.0.1. Run: .venv/bin/python bench/gateway.py [--quick] [--only paced] [--probe]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run on uvloop when it is installed (the gateway uses it too), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


# -- the fake model server (runs in its own process) ------------------------------------


def _chunk(i: int) -> bytes:
    delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"tok{i} "}
    body = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1,
            "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _framed(event: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(event), event)


class FakeModelServer(asyncio.Protocol):
    """One connection to the fake model server: answers each request as it completes.

    A streamed answer is written one event per ``write`` (one ``send``), as a
    model server flushes each token; paced ones are spaced by timers, not by
    a coroutine sleeping per event.
    """

    def __init__(self, events: list[bytes], whole: bytes, delay_s: float) -> None:
        self.events = events
        self.whole = whole
        self.delay_s = delay_s
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            self.answer(head, body)

    def answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        write = self.transport.write
        if head.startswith(b"GET"):
            write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        elif b'"stream":true' in body:
            write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                  b"transfer-encoding: chunked\r\n\r\n")
            if self.delay_s:
                write(self.events[0])
                self.timer = asyncio.get_running_loop().call_later(self.delay_s, self.tick, 1)
            else:
                for event in self.events:
                    write(event)
        else:
            write(self.whole)

    def tick(self, index: int) -> None:
        self.timer = None
        if self.transport is None:
            return
        write = self.transport.write
        paced = len(self.events) - 3  # the usage event, [DONE] and the end follow at once
        write(self.events[index])
        if index + 1 < paced:
            self.timer = asyncio.get_running_loop().call_later(self.delay_s, self.tick,
                                                                index + 1)
            return
        for event in self.events[index + 1:]:
            write(event)


def run_upstream(port: int, chunks: int, delay_ms: float) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": chunks, "total_tokens": 1000 + chunks}
    tail = [b'data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1,'
            b'"model":"bench","choices":[],"usage":' + json.dumps(usage).encode() + b"}\n\n",
            b"data: [DONE]\n\n"]
    events = [_framed(e) for e in [_chunk(i) for i in range(chunks)] + tail] + [b"0\r\n\r\n"]
    answer = json.dumps({
        "id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * chunks},
                     "finish_reason": "stop"}], "usage": usage}).encode()
    whole = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
             b"%s" % (len(answer), answer))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: FakeModelServer(events, whole, delay_ms / 1000), "127.0.0.1", port,
            backlog=1024)
        async with server:
            await server.serve_forever()

    run_loop(main)


# -- the load generator ---------------------------------------------------------------


class ClientConnection(asyncio.Protocol):
    """One kept-alive client connection; the answer is parsed as it arrives.

    ``ask`` sends a request and returns a future of (time to first byte,
    status); the first byte is the end of the head for a plain answer and the
    first whole non-empty chunk (the first event) for a chunked one.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.waiter: asyncio.Future[tuple[float, int]] | None = None
        self.started = 0.0
        self.first: float | None = None
        self.status = 0
        self.chunked = False
        self.in_body = False
        self.remaining = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def ask(self, request: bytes) -> asyncio.Future[tuple[float, int]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.first, self.in_body = None, False
        self.started = time.perf_counter()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        at = 0
        while self.waiter is not None:
            if not self.in_body:
                end = buf.find(b"\r\n\r\n", at)
                if end < 0:
                    break
                head = buf[at:end].lower()
                at = end + 4
                self.status = int(head[9:12])
                self.in_body = True
                self.chunked = b"transfer-encoding: chunked" in head
                if not self.chunked:
                    self.first = time.perf_counter() - self.started
                    start = head.index(b"content-length:") + 15
                    stop = head.find(b"\r\n", start)
                    self.remaining = int(head[start:stop if stop >= 0 else None])
            elif self.chunked:
                end = buf.find(b"\r\n", at)
                if end < 0:
                    break
                size = int(buf[at:end].split(b";")[0], 16)
                if len(buf) < end + size + 4:
                    break
                at = end + size + 4
                if size and self.first is None:
                    self.first = time.perf_counter() - self.started
                if not size:
                    self._done()
            else:
                take = min(self.remaining, len(buf) - at)
                at += take
                self.remaining -= take
                if self.remaining:
                    break
                self._done()
        self.buf = buf[at:]

    def _done(self) -> None:
        waiter, self.waiter = self.waiter, None
        assert waiter is not None
        waiter.set_result((self.first or 0.0, self.status))


@dataclass
class Sample:
    ttfb: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process: CPU seconds in the round
    starts: list[float] = field(default_factory=list)  # when each request was sent
    steal: float = 0.0  # share of the machine's CPU time the hypervisor took in the round
    wall: tuple[float, float] = (0.0, 0.0)  # the round's start and end, Unix time


def _request(body: bytes, token: str | None) -> bytes:
    auth = f"authorization: Bearer {token}\r\n".encode() if token else b""
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: "
            b"application/json\r\n" + auth + b"content-length: %d\r\n\r\n" % len(body) + body)


async def drive(port: int, request: bytes, concurrency: int, duration_s: float,
                spread_s: float = 0.0) -> Sample:
    sample = Sample()
    deadline = time.perf_counter() + duration_s + spread_s
    loop = asyncio.get_running_loop()

    async def worker(delay: float) -> None:
        await asyncio.sleep(delay)
        transport, conn = await loop.create_connection(ClientConnection, "127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                sample.starts.append(started)
                first, status = await conn.ask(request)
                if status != 200:
                    sample.errors += 1
                    continue
                sample.ttfb.append(first)
                sample.total.append(time.perf_counter() - started)
        finally:
            transport.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(spread_s * i / concurrency) for i in range(concurrency)))
    sample.elapsed = time.perf_counter() - began
    return sample


# -- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    """User and system time of a process, all its threads."""
    if pid == os.getpid():
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_times() -> tuple[int, int]:
    """The machine's total and stolen CPU time so far, in ticks (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def memory_mb(pid: int) -> tuple[float, float]:
    rss = peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return rss, peak


def start_upstream(chunks: int, delay_ms: float) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--upstream", str(port), str(chunks),
                                str(delay_ms)])
    wait_port(port)
    return process, port


def setup_gateway(directory: Path, upstreams: dict[str, int]) -> tuple[Path, str]:
    sys.path.insert(0, str(ROOT / "src"))
    from moatcode.gateway import db
    from moatcode.gateway.identity import IdentityStore, Team, create_key_file, load_key
    from moatcode.gateway.policy_doc import create_signing_key

    models = "\n".join(
        f'[models.{name}]\nupstreams = ["http://127.0.0.1:{port}/v1"]\n'
        for name, port in upstreams.items())
    config = directory / "gateway.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {free_port()}\n'
        f'[database]\nurl = "sqlite:///gateway.db"\n{models}')
    create_key_file(directory / "token-hash.key")
    create_signing_key(directory / "signing.key")
    engine = db.create_db_engine(f"sqlite:///{directory / 'gateway.db'}")
    db.ensure_schema(engine)
    identity = IdentityStore(engine, load_key(directory / "token-hash.key"))
    limit = 10**12
    identity.add_team(Team("bench", ("*",), limit, limit, limit, limit, 16 * 1024 * 1024))
    identity.add_user("bench", "bench")
    _, token = identity.create_token("bench")
    engine.dispose()
    return config, token


def start_gateway(config: Path, log: Path,
                  probe: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    port = int(config.read_text().split("port = ", 1)[1].split("\n", 1)[0])
    code = ("import sys; from moatcode.gateway.commands import gateway; "
            "gateway(['--config', sys.argv[1], 'serve', '--log-level', 'info'])")
    if probe is not None:
        code = ("import sys; sys.path.insert(0, sys.argv[3]); import _loop_probe; "
                "_loop_probe.serve(sys.argv[1], sys.argv[2])")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-c", code, str(config), str(probe),
                                    str(ROOT / "bench")], stderr=out, stdout=out, env=env)
    wait_port(port)
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- reporting --------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def merge(samples: list[Sample]) -> Sample:
    out = Sample()
    for s in samples:
        out.ttfb += s.ttfb
        out.total += s.total
        out.errors += s.errors
        out.elapsed += s.elapsed
        out.steal += s.steal * s.elapsed
        for name, seconds in s.cpu.items():
            out.cpu[name] = out.cpu.get(name, 0.0) + seconds
    out.steal /= out.elapsed or 1.0
    return out


def bunching(starts: list[float], window_s: float = 0.05) -> str:
    """How unevenly requests arrive: requests sent per 50 ms, mean against p90 and max.

    A closed loop of equal-length streams keeps any clump of arrivals together: streams
    that end in the same stall start again together, one stream length later.
    """
    if not starts:
        return "-"
    begin = min(starts)
    counts = [0] * (int((max(starts) - begin) / window_s) + 1)
    for at in starts:
        counts[int((at - begin) / window_s)] += 1
    ordered = sorted(counts)
    mean = len(starts) / len(counts)
    return (f"{mean:.0f} mean, {ordered[int(0.9 * len(ordered))]} p90, "
            f"{ordered[-1]} max")


def gateway_ttfb(store: Path, rounds: dict[int, list[tuple[float, float]]]
                 ) -> dict[int, list[float]]:
    """The gateway's own time to first byte (its audit records) of the streams in each
    case's rounds, read in one pass over the store.

    Measured from when the app took the request to when the first event went to the
    client's socket: what the gateway's code and the upstream took, without the wait for
    the event loop before the app sees the request, or for the client to read it.
    """
    found: dict[int, list[float]] = {case: [] for case in rounds}
    with sqlite3.connect(store) as db:
        for at, data in db.execute("SELECT at, data FROM records WHERE kind = "
                                   "'gateway_request'"):
            # A gateway record's time is when its request came in.
            began = datetime.fromisoformat(at).timestamp()
            for case, windows in rounds.items():
                if any(start <= began <= end for start, end in windows):
                    ttfb_us = json.loads(data).get("ttfb_us")
                    if ttfb_us is not None:
                        found[case].append(ttfb_us / 1e6)
                    break
    return found


def line(name: str, s: Sample) -> str:
    rps = len(s.total) / s.elapsed if s.elapsed else 0.0
    cores = " ".join(f"{who} {seconds / s.elapsed:.2f}" for who, seconds in s.cpu.items())
    return (f"  {name:<8} {rps:>8.0f} req/s  ttfb p50 {pct(s.ttfb, .5):7.2f} p99 "
            f"{pct(s.ttfb, .99):7.2f} ms  total p50 {pct(s.total, .5):7.2f} p99 "
            f"{pct(s.total, .99):7.2f} ms  errors {s.errors}  CPU cores: {cores}; "
            f"steal {100 * s.steal:.0f}%")


def body(stream: bool) -> bytes:
    messages = [{"role": "system", "content": "You are a coding agent. " * 20}]
    messages += [{"role": "user" if i % 2 else "assistant", "content": "some context " * 30}
                 for i in range(8)]
    value = {"model": "MODEL", "stream": stream, "max_tokens": 256, "messages": messages}
    if stream:
        value["stream_options"] = {"include_usage": True}
    return json.dumps(value, separators=(",", ":")).encode()


async def measured(pids: dict[str, int], port: int, request: bytes, concurrency: int,
                   seconds: float, spread_s: float) -> Sample:
    """One round, with the CPU each process (the load generator too) spent in it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    total, stolen = cpu_times()
    began = time.time()
    sample = await drive(port, request, concurrency, seconds, spread_s)
    sample.wall = (began, time.time())
    sample.cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    total_after, stolen_after = cpu_times()
    sample.steal = (stolen_after - stolen) / max(total_after - total, 1)
    return sample


async def compare(label: str, gw_pid: int, gw_port: int, up_pid: int, up_port: int,
                  model: str, token: str, stream: bool, concurrency: int, rounds: int,
                  seconds: float, spread_s: float = 0.0) -> list[Sample]:
    """Alternating direct and gateway rounds; prints the comparison, returns the gateway's."""
    raw = body(stream).replace(b"MODEL", model.encode())
    direct_req, gw_req = _request(raw, None), _request(raw, token)
    me = os.getpid()
    direct, through = [], []
    for _ in range(rounds):
        direct.append(await measured({"client": me, "upstream": up_pid}, up_port, direct_req,
                                     concurrency, seconds, spread_s))
        through.append(await measured({"client": me, "upstream": up_pid, "gateway": gw_pid},
                                      gw_port, gw_req, concurrency, seconds, spread_s))
    d, g = merge(direct), merge(through)
    n = len(g.total)
    rss, peak = memory_mb(gw_pid)
    print(f"{label}, {'streamed' if stream else 'not streamed'}, concurrency {concurrency} "
          f"({len(d.total)} direct / {n} gateway requests; load {os.getloadavg()[0]:.1f}):")
    print(line("direct", d))
    print(line("gateway", g))
    added_p50 = pct(g.ttfb, .5) - pct(d.ttfb, .5)
    added_p99 = pct(g.ttfb, .99) - pct(d.ttfb, .99)
    ratio = (len(g.total) / g.elapsed) / (len(d.total) / d.elapsed) if d.total else 0.0
    per = 1000 / max(n, 1)
    print(f"  added ttfb p50 {added_p50:+.2f} ms, p99 {added_p99:+.2f} ms; throughput ratio "
          f"{ratio:.2f}; CPU ms/request through the gateway: gateway "
          f"{g.cpu['gateway'] * per:.2f}, client {g.cpu['client'] * per:.2f}, fake model "
          f"server {g.cpu['upstream'] * per:.2f}; gateway memory {rss:.0f} MB (peak "
          f"{peak:.0f} MB)")
    if spread_s:
        rounds_added = ", ".join(f"{pct(t.ttfb, .99) - pct(d.ttfb, .99):+.1f}"
                                 for d, t in zip(direct, through, strict=True))
        print(f"  added ttfb p99 round by round: {rounds_added} ms; requests sent per 50 ms: "
              f"direct {bunching(direct[-1].starts)}; gateway {bunching(through[-1].starts)} "
              f"(last round)")
    return through


def probe_report(path: Path) -> None:
    if not path.exists():
        print("the loop probe wrote nothing (see the gateway's log)")
        return
    found = json.loads(path.read_text())
    print(f"event loop (probe, whole run): a 2 ms timer ran late by p50 "
          f"{found['late_p50_ms']:.2f}, p99 {found['late_p99_ms']:.1f}, max "
          f"{found['late_max_ms']:.1f} ms")
    stall = found["stall_s"]
    if not found["stalls"] or not stall:
        return
    steal = found["stall_steal_s"] / (stall * found["cpus"])
    print(f"  {found['stalls']} stalls over 15 ms, {1000 * stall:.0f} ms in all; in them the "
          f"loop's thread ran {100 * found['stall_ran_s'] / stall:.0f}% of the time, waited "
          f"for a CPU {100 * found['stall_runqueue_s'] / stall:.0f}%, and slept (interpreter "
          f"lock) or was stolen the rest; the hypervisor took {100 * steal:.0f}% of the "
          f"machine's CPU time meanwhile")


async def bench(quick: bool, only: str | None, probe: bool) -> None:
    rounds, seconds = (1, 1.0) if quick else (2, 2.0)
    work = Path(tempfile.mkdtemp(prefix="moat-bench-gw-"))
    fast, fast_port = start_upstream(32, 0)
    paced, paced_port = start_upstream(32, 20)
    gw = None
    try:
        config, token = setup_gateway(work, {"fast": fast_port, "paced": paced_port})
        probe_file = work / "loop-probe.json" if probe else None
        gw, gw_port = start_gateway(config, work / "gateway.log", probe_file)
        print(f"gateway pid {gw.pid}; CPU {os.cpu_count()} cores; python "
              f"{sys.version.split()[0]}; load {os.getloadavg()[0]:.1f}; client loop "
              f"{type(asyncio.get_running_loop()).__module__.split('.')[0]}")
        await drive(gw_port, _request(body(False).replace(b"MODEL", b"fast"), token), 4, 0.5)
        if only != "paced":
            for concurrency in (1, 16, 64):
                for stream in (False, True):
                    await compare("fast upstream", gw.pid, gw_port, fast.pid, fast_port,
                                  "fast", token, stream, concurrency, rounds, seconds)
        paced_rounds: dict[int, list[Sample]] = {}
        if only != "fast":
            for concurrency in (64, 256):
                paced_rounds[concurrency] = await compare(
                    "paced upstream (32 chunks, 20 ms apart)", gw.pid, gw_port, paced.pid,
                    paced_port, "paced", token, True, concurrency, rounds, seconds * 2,
                    spread_s=0.64)
        stop(gw)
        gw = None
        own_ttfb = gateway_ttfb(work / "gateway.db", {
            concurrency: [s.wall for s in samples] for concurrency, samples in
            paced_rounds.items()})
        for concurrency, own in own_ttfb.items():
            print(f"paced, concurrency {concurrency}: the gateway's own time to first byte "
                  f"(its audit records, {len(own)} streams): p50 {pct(own, .5):.2f} p99 "
                  f"{pct(own, .99):.2f} ms")
        if probe_file is not None:
            probe_report(probe_file)
        size = (work / "gateway.db").stat().st_size / 1e6
        print(f"audit store after the run: {size:.0f} MB; load {os.getloadavg()[0]:.1f}")
    finally:
        if gw is not None:
            stop(gw)
        for process in (fast, paced):
            process.terminate()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="One short round per case.")
    parser.add_argument("--only", choices=("fast", "paced"),
                        help="Only the fast-upstream cases, or only the paced ones.")
    parser.add_argument("--probe", action="store_true",
                        help="Watch the gateway's event loop for stalls, and report what "
                             "held them up (costs the gateway ~1%%).")
    parser.add_argument("--upstream", nargs=3, metavar=("PORT", "CHUNKS", "DELAY_MS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        port, chunks, delay = args.upstream
        run_upstream(int(port), int(chunks), float(delay))
        return
    run_loop(lambda: bench(args.quick, args.only, args.probe))


if __name__ == "__main__":
    main()
