"""The sandbox contract: run a command confined, return what it did.

What a sandbox may touch is data (``SandboxPolicy``), decided by policy and
settings; the mechanism (bubblewrap, or none) implements ``Sandbox``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol


@dataclass(frozen=True)
class SandboxPolicy:
    writable_roots: tuple[Path, ...]
    # Kept read-only inside the writable roots; a relative path applies under each root.
    read_only_paths: tuple[Path, ...] = ()
    # Host paths under the hidden home (toolchains such as ~/.cargo) shown read-only again.
    readable_paths: tuple[Path, ...] = ()
    network: Literal["none", "allowlist", "host"] = "none"
    allowed_hosts: tuple[str, ...] = ()
    max_processes: int = 512
    max_memory_bytes: int = 4 * 1024**3
    max_cpu_seconds: int = 600


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes  # stdout and stderr interleaved, as a terminal would show them
    timed_out: bool = False
    output_truncated: bool = False
    duration_s: float = 0.0
    extra: Mapping[str, str] = field(default_factory=dict)


class Sandbox(Protocol):
    @property
    def name(self) -> str:
        """A short label for the record, e.g. ``bwrap`` or ``none``."""
        ...

    def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        timeout: float,
        env: Mapping[str, str],
        max_output: int = 1 << 20,
    ) -> ExecResult:
        """Run ``argv``; kill everything it started when it ends or times out."""
        ...
