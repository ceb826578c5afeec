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
  concurrency 64 and 256, started spread over one stream's length.

Prints figures and ratios, asserts nothing, stops by itself, uses only
127.0.0.1. Run: .venv/bin/python bench/gateway.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

# -- the fake model server (runs in its own process) ------------------------------------


def _chunk(i: int) -> bytes:
    delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"tok{i} "}
    body = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1,
            "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def run_upstream(port: int, chunks: int, delay_ms: float) -> None:
    events = [_chunk(i) for i in range(chunks)]
    usage = {"prompt_tokens": 1000, "completion_tokens": chunks, "total_tokens": 1000 + chunks}
    tail = [b'data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":1,'
            b'"model":"bench","choices":[],"usage":' + json.dumps(usage).encode() + b"}\n\n",
            b"data: [DONE]\n\n"]
    whole = json.dumps({
        "id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * chunks},
                     "finish_reason": "stop"}], "usage": usage}).encode()
    delay = delay_ms / 1000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                if head.startswith(b"GET"):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                elif b'"stream":true' in body:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                 b"transfer-encoding: chunked\r\n\r\n")
                    for i, event in enumerate(events + tail):
                        if delay and 0 < i < chunks:
                            await writer.drain()
                            await asyncio.sleep(delay)
                        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    writer.write(b"0\r\n\r\n")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(whole), whole))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the load generator ---------------------------------------------------------------


@dataclass
class Sample:
    ttfb: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0


def _request(body: bytes, token: str | None) -> bytes:
    auth = f"authorization: Bearer {token}\r\n".encode() if token else b""
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: "
            b"application/json\r\n" + auth + b"content-length: %d\r\n\r\n" % len(body) + body)


async def _read_answer(reader: asyncio.StreamReader, started: float) -> tuple[float, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        first = 0.0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if not first and size:
                first = time.perf_counter() - started
            if size == 0:
                return first, status
    at = lower.index(b"content-length:") + 15
    length = int(lower[at:lower.index(b"\r\n", at)])
    first = time.perf_counter() - started
    await reader.readexactly(length)
    return first, status


async def drive(port: int, request: bytes, concurrency: int, duration_s: float,
                spread_s: float = 0.0) -> Sample:
    sample = Sample()
    deadline = time.perf_counter() + duration_s + spread_s

    async def worker(delay: float) -> None:
        await asyncio.sleep(delay)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                first, status = await _read_answer(reader, started)
                if status != 200:
                    sample.errors += 1
                    continue
                sample.ttfb.append(first)
                sample.total.append(time.perf_counter() - started)
        finally:
            writer.close()

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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


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


def start_gateway(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = int(config.read_text().split("port = ", 1)[1].split("\n", 1)[0])
    code = ("import sys; from moatcode.gateway.commands import gateway; "
            "gateway(['--config', sys.argv[1], 'serve', '--log-level', 'info'])")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-c", code, str(config)], stderr=out,
                                   stdout=out, env=env)
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
    return out


def line(name: str, s: Sample) -> str:
    rps = len(s.total) / s.elapsed if s.elapsed else 0.0
    return (f"  {name:<8} {rps:>8.0f} req/s  ttfb p50 {pct(s.ttfb, .5):7.2f} p99 "
            f"{pct(s.ttfb, .99):7.2f} ms  total p50 {pct(s.total, .5):7.2f} p99 "
            f"{pct(s.total, .99):7.2f} ms  errors {s.errors}")


def body(stream: bool) -> bytes:
    messages = [{"role": "system", "content": "You are a coding agent. " * 20}]
    messages += [{"role": "user" if i % 2 else "assistant", "content": "some context " * 30}
                 for i in range(8)]
    value = {"model": "MODEL", "stream": stream, "max_tokens": 256, "messages": messages}
    if stream:
        value["stream_options"] = {"include_usage": True}
    return json.dumps(value, separators=(",", ":")).encode()


async def compare(label: str, gw_pid: int, gw_port: int, up_pid: int, up_port: int,
                  model: str, token: str, stream: bool, concurrency: int, rounds: int,
                  seconds: float, spread_s: float = 0.0) -> None:
    raw = body(stream).replace(b"MODEL", model.encode())
    direct_req, gw_req = _request(raw, None), _request(raw, token)
    direct, through = [], []
    cpu = up_cpu = 0.0
    for _ in range(rounds):
        before = cpu_seconds(up_pid)
        direct.append(await drive(up_port, direct_req, concurrency, seconds, spread_s))
        up_cpu += cpu_seconds(up_pid) - before
        before = cpu_seconds(gw_pid)
        through.append(await drive(gw_port, gw_req, concurrency, seconds, spread_s))
        cpu += cpu_seconds(gw_pid) - before
    d, g = merge(direct), merge(through)
    n = len(g.total)
    rss, peak = memory_mb(gw_pid)
    print(f"{label}, {'streamed' if stream else 'not streamed'}, concurrency {concurrency} "
          f"({len(d.total)} direct / {n} gateway requests):")
    print(line("direct", d))
    print(line("gateway", g))
    added_p50 = pct(g.ttfb, .5) - pct(d.ttfb, .5)
    added_p99 = pct(g.ttfb, .99) - pct(d.ttfb, .99)
    ratio = (len(g.total) / g.elapsed) / (len(d.total) / d.elapsed) if d.total else 0.0
    print(f"  added ttfb p50 {added_p50:+.2f} ms, p99 {added_p99:+.2f} ms; throughput ratio "
          f"{ratio:.2f}; gateway CPU {cpu / max(n, 1) * 1000:.2f} ms/request (the fake "
          f"model server's own: {up_cpu / max(len(d.total), 1) * 1000:.2f}); gateway memory "
          f"{rss:.0f} MB (peak {peak:.0f} MB)")


async def bench(quick: bool) -> None:
    rounds, seconds = (1, 1.0) if quick else (2, 2.0)
    work = Path(tempfile.mkdtemp(prefix="moat-bench-gw-"))
    fast, fast_port = start_upstream(32, 0)
    paced, paced_port = start_upstream(32, 20)
    gw = None
    try:
        config, token = setup_gateway(work, {"fast": fast_port, "paced": paced_port})
        gw, gw_port = start_gateway(config, work / "gateway.log")
        print(f"gateway pid {gw.pid}; CPU {os.cpu_count()} cores; python "
              f"{sys.version.split()[0]}; load {os.getloadavg()[0]:.1f}")
        await drive(gw_port, _request(body(False).replace(b"MODEL", b"fast"), token), 4, 0.5)
        for concurrency in (1, 16, 64):
            for stream in (False, True):
                await compare("fast upstream", gw.pid, gw_port, fast.pid, fast_port, "fast",
                              token, stream, concurrency, rounds, seconds)
        for concurrency in (64, 256):
            await compare("paced upstream (32 chunks, 20 ms apart)", gw.pid, gw_port,
                          paced.pid, paced_port, "paced", token, True, concurrency, rounds,
                          seconds * 2, spread_s=0.64)
        stop(gw)
        gw = None
        size = (work / "gateway.db").stat().st_size / 1e6
        print(f"audit store after the run: {size:.0f} MB")
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
    parser.add_argument("--upstream", nargs=3, metavar=("PORT", "CHUNKS", "DELAY_MS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        port, chunks, delay = args.upstream
        run_upstream(int(port), int(chunks), float(delay))
        return
    random.seed(1)
    asyncio.run(bench(args.quick))


if __name__ == "__main__":
    main()
