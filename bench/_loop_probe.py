"""A probe inside the gateway process: how often its event loop is held up, and by what.

``bench/gateway.py --probe`` starts the gateway through ``serve`` below. Every
2 ms a timer on the loop notes how late it ran. When it ran more than 15 ms
late (a stall), the probe also notes what the loop's thread did in that
interval, from ``/proc/self/task/TID/schedstat``: time on a CPU and time
waiting in the run queue for one. The rest of the interval the thread was
asleep, waiting for the interpreter lock (or in ``epoll``, which under load it
leaves at once) or, on a virtual machine, not running because the hypervisor
took the CPU: ``/proc/stat``'s steal counter says how much it took from the
whole machine meanwhile. At exit the probe writes a JSON summary to the path
it was given. The probe's own cost is one timer and two small reads per tick.

Not a benchmark by itself: run as a script, it does nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

TICK_S = 0.002
STALL_S = 0.015


class LoopProbe:
    def __init__(self) -> None:
        self.late: list[float] = []
        self.stalls: list[dict[str, float]] = []
        self._schedstat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        self._clock_tick = os.sysconf("SC_CLK_TCK")

    def _counters(self) -> tuple[float, float, int]:
        ran, waited, _ = self._schedstat.read_text().split()
        steal = int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])
        return int(ran) / 1e9, int(waited) / 1e9, steal

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        last_at, last = time.perf_counter(), self._counters()

        def tick() -> None:
            nonlocal last_at, last
            now = time.perf_counter()
            late = now - last_at - TICK_S
            self.late.append(late)
            counters = self._counters()
            if late > STALL_S:
                self.stalls.append({
                    "interval_s": now - last_at,
                    "ran_s": counters[0] - last[0],
                    "runqueue_s": counters[1] - last[1],
                    "steal_s": (counters[2] - last[2]) / self._clock_tick,
                })
            last_at, last = now, counters
            loop.call_later(TICK_S, tick)

        loop.call_later(TICK_S, tick)

    def summary(self) -> dict[str, Any]:
        late = sorted(self.late)

        def total(key: str) -> float:
            return sum(stall[key] for stall in self.stalls)

        return {
            "ticks": len(late),
            "late_p50_ms": 1000 * late[len(late) // 2] if late else 0.0,
            "late_p99_ms": 1000 * late[int(0.99 * len(late))] if late else 0.0,
            "late_max_ms": 1000 * late[-1] if late else 0.0,
            "stalls": len(self.stalls),
            "stall_s": total("interval_s"),
            "stall_ran_s": total("ran_s"),
            "stall_runqueue_s": total("runqueue_s"),
            "stall_steal_s": total("steal_s"),  # of all the machine's CPUs
            "cpus": os.cpu_count() or 1,
        }


def serve(config: str, out: str) -> None:
    """``moat gateway serve`` with the probe on the server's loop."""
    import uvicorn

    from moatcode.gateway.commands import gateway

    probe = LoopProbe()
    startup = uvicorn.Server.startup

    async def probed_startup(self: uvicorn.Server, sockets: Any = None) -> None:
        await startup(self, sockets)
        probe.start(asyncio.get_running_loop())

    uvicorn.Server.startup = probed_startup  # type: ignore[method-assign]
    atexit.register(lambda: Path(out).write_text(json.dumps(probe.summary())))
    gateway(["--config", config, "serve", "--log-level", "info"])
