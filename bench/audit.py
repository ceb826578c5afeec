"""Audit log figures: append cost per record under both fsync policies, verify speed, and
the space a growing session's request bodies take, whole against kept as deltas.

Prints figures, asserts nothing. Run: .venv/bin/python bench/audit.py [--dir DIR]
(DIR is where the stores go; pick the filesystem the user's data dir lives on).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.audit.bodies import request_body
from moatcode.audit.checkpoint import CheckpointSigner, signature_checker
from moatcode.audit.export import export_records
from moatcode.audit.sink import AuditSink, StoreRequests, event_data
from moatcode.audit.store import AuditStore, Synchronous
from moatcode.audit.verify import verify_jsonl, verify_store
from moatcode.events import (
    AssistantTurn,
    Event,
    ModelRequestSent,
    PermissionDecided,
    ToolCallFinished,
    ToolCallStarted,
)
from moatcode.types import Message, Source, ToolCall, Usage


def step_events(step: int) -> list[Event]:
    """One agent step as it is recorded: request, answer, call, verdict, result."""
    call = ToolCall(f"call_{step}", "read_file", f'{{"path": "src/app/module_{step}.py"}}')
    message = '{"role":"user","content":"' + "x" * 200 + '"}'
    body = '{"model":"qwen","messages":[' + ",".join([message] * 20) + "]}"
    return [
        ModelRequestSent(step, "http://127.0.0.1:8000/v1", "qwen", len(body), len(body) // 4,
                         "ab" * 32, body, (Source("file", "src/app.py", 1, 80),)),
        AssistantTurn(step, Message("assistant", "Let me read that file." * 5, (call,)),
                      Usage(3000, 120, 2800), "tool_calls", 812.25, "cd" * 32),
        ToolCallStarted(step, call),
        PermissionDecided(call.id, "read_file", "allow", "mode:default", "mode"),
        ToolCallFinished(step, call.id, "read_file", True, "line of code\n" * 150, 1950,
                         "ef" * 32, duration_ms=1.75),
    ]


Items = list[tuple[str, dict[str, Any]]]


def workload(count: int, store_requests: StoreRequests = "full") -> Items:
    out: Items = []
    step = 0
    while len(out) < count:
        step += 1
        for event in step_events(step):
            data = event_data(event, store_requests)
            assert data is not None
            out.append((event.kind, data))
    return out[:count]


def append_costs(path: Path, synchronous: Synchronous, count: int) -> list[float]:
    items = workload(count)
    costs = []
    now = datetime.now(UTC)
    with AuditStore.open(path, synchronous=synchronous) as store:
        for kind, data in items:
            start = time.perf_counter()
            store.append(session="bench", kind=kind, data=data, at=now)
            costs.append(time.perf_counter() - start)
    return costs


def checkpoint_costs(path: Path, signer: CheckpointSigner, count: int) -> list[float]:
    costs = []
    now = datetime.now(UTC)
    with AuditStore.open(path, synchronous="normal") as store:
        for _ in range(count):
            store.append(session="bench", kind="notice", data={"message": "x"}, at=now)
            start = time.perf_counter()
            store.append_checkpoint(session="bench", at=now, sign=signer.sign)
            costs.append(time.perf_counter() - start)
    return costs


def fill(
    path: Path, count: int, signer: CheckpointSigner, store_requests: StoreRequests = "full"
) -> None:
    now = datetime.now(UTC)
    with AuditStore.open(path) as store:
        for i, (kind, data) in enumerate(workload(count, store_requests), 1):
            store.append(session="bench", kind=kind, data=data, at=now)
            if i % 1000 == 0:
                store.append_checkpoint(session="bench", at=now, sign=signer.sign)


def best_rate(run: Any, records: int, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return records / min(times)


def growing_session(steps: int) -> list[ModelRequestSent]:
    """A session's requests: each one the previous plus an answer and a 2 kB tool result."""
    import hashlib
    import json

    messages: list[dict[str, str]] = [{"role": "system", "content": "You are Moat. " * 300}]
    requests = []
    for step in range(1, steps + 1):
        messages.append({"role": "user", "content": f"result of step {step}: " + "x" * 2000})
        body = json.dumps({"model": "qwen", "messages": messages}, separators=(",", ":"))
        raw = body.encode()
        requests.append(ModelRequestSent(step, "http://127.0.0.1:8000/v1", "qwen", len(raw),
                                         len(raw) // 4, hashlib.sha256(raw).hexdigest(), body))
        messages.append({"role": "assistant", "content": "Reading the next file. " * 8})
    return requests


def body_space(root: Path, steps: int) -> None:
    requests = growing_session(steps)
    clock = datetime(2025, 3, 1, tzinfo=UTC)
    whole, delta = root / "bodies-whole.db", root / "bodies-delta.db"
    with AuditStore.open(whole) as store:  # the baseline: every body kept whole
        started = time.perf_counter()
        for event in requests:
            data = event_data(event)
            assert data is not None
            store.append(session="s", kind=event.kind, data=data, at=clock)
        whole_s = time.perf_counter() - started
    with AuditStore.open(delta) as store:
        sink = AuditSink(store, session_id="s", clock=lambda: clock)
        started = time.perf_counter()
        for event in requests:
            sink(event)
        delta_s = time.perf_counter() - started
        last = store.head()
    assert last is not None
    started = time.perf_counter()
    assert request_body(delta, last[0]) == requests[-1].body
    rebuild_ms = (time.perf_counter() - started) * 1e3
    sent = sum(len(r.body) for r in requests) / 1e6
    w, d = whole.stat().st_size / 1e6, delta.stat().st_size / 1e6
    print(f"request bodies of a {steps}-step session ({sent:.1f} MB sent, the last request "
          f"{len(requests[-1].body) / 1e3:.0f} kB): store {w:.1f} MB whole, {d:.2f} MB as "
          f"deltas ({w / d:.0f}x less); append {whole_s / steps * 1e3:.2f} vs "
          f"{delta_s / steps * 1e3:.2f} ms per request; rebuilding the last body from "
          f"{steps} records: {rebuild_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        print(f"stores in {root}")
        medians: dict[str, float] = {}
        runs: tuple[tuple[Synchronous, int], ...] = (("normal", 3000), ("full", 500))
        for policy, count in runs:
            costs = append_costs(root / f"append-{policy}.db", policy, count)
            medians[policy] = statistics.median(costs)
            p95 = statistics.quantiles(costs, n=20)[-1]
            print(f"append, synchronous={policy.upper():6} {count:5} records: "
                  f"median {medians[policy] * 1e3:.3f} ms, p95 {p95 * 1e3:.3f} ms per record")
        print(f"append: FULL/NORMAL median ratio {medians['full'] / medians['normal']:.1f}x")
        body_space(root, 60)
        signer = CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())
        costs = checkpoint_costs(root / "append-normal.db", signer, 200)
        print(f"checkpoint (sign + fsync), synchronous=NORMAL: median "
              f"{statistics.median(costs) * 1e3:.3f} ms")

        store = root / "verify.db"
        fill(store, args.records, signer)
        result = verify_store(store)
        assert result.ok, result.problem
        size = store.stat().st_size / 1e6
        buffer = io.StringIO()
        export_records(store, "jsonl", None, buffer)
        lines = buffer.getvalue().splitlines(keepends=True)
        mean_kb = sum(map(len, lines)) / len(lines) / 1e3
        print(f"verify: {result.records} records, {mean_kb:.1f} kB each on average "
              f"(store file {size:.0f} MB)")
        rate = best_rate(lambda: verify_store(store), result.records)
        print(f"verify store: {rate:,.0f} records/s ({rate * mean_kb / 1e3:.0f} MB/s)")
        rate = best_rate(lambda: verify_jsonl(lines, name="export"), len(lines))
        print(f"verify export (jsonl, in memory): {rate:,.0f} records/s")
        check = signature_checker(signer.private_key.public_key())
        rate = best_rate(lambda: verify_jsonl(lines, name="export", check_signature=check),
                         len(lines))
        print(f"verify export, checking {result.records // 1000} checkpoint signatures: "
              f"{rate:,.0f} records/s")
        small = root / "verify-hashed-bodies.db"
        fill(small, args.records, signer, store_requests="hash")
        rate = best_rate(lambda: verify_store(small), result.records)
        kb = small.stat().st_size / result.records / 1e3
        print(f"verify store, request bodies kept as hashes (~{kb:.1f} kB a record on disk): "
              f"{rate:,.0f} records/s")
        print("targets: append median under 1 ms (default NORMAL), verify over 50,000 records/s")


if __name__ == "__main__":
    main()
