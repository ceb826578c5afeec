"""Resource limits for one sandboxed command: a cgroup where we can make one, rlimits otherwise.

A fork bomb or a memory hog must end in an error, not a frozen machine, so each
run gets limits on processes, memory and CPU time:

- **processes and memory**: a fresh cgroup per run, below the cgroup Moat runs
  in (so the limits of whoever started Moat still apply): ``pids.max`` and
  ``memory.max`` (cgroup v2) or ``memory.limit_in_bytes`` (cgroup v1). Each
  controller is taken from whichever hierarchy has it; a mixed v1/v2 host
  works. The cgroup is removed after the run, and every process still in it
  is killed first.
- **fallback** where no cgroup can be made (no permission, no delegation):
  ``RLIMIT_NPROC`` for processes (it counts all of the user's processes, and
  does nothing for root), ``RLIMIT_AS`` for memory (per process, and it upsets
  programs that reserve large address ranges, which is why a cgroup is
  preferred).
- **always**: ``RLIMIT_CPU`` (per process: SIGXCPU at the limit, SIGKILL a
  second later), ``RLIMIT_CORE`` 0 (no core files in the workspace), and the
  caller's wall-clock timeout.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import resource
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from moatcode.sandbox.base import SandboxPolicy

log = logging.getLogger(__name__)

CONTROLLERS = ("pids", "memory")
_STALE = re.compile(r"moat-(\d+)-[0-9a-f]+")


@dataclass(frozen=True)
class ResourceLimits:
    max_processes: int
    max_memory_bytes: int
    max_cpu_seconds: int


def limits_from_policy(policy: SandboxPolicy) -> ResourceLimits:
    return ResourceLimits(policy.max_processes, policy.max_memory_bytes, policy.max_cpu_seconds)


@dataclass(frozen=True)
class CgroupMount:
    version: Literal[1, 2]
    mount_point: Path
    root: str  # the part of the hierarchy this mount shows, "/" for all of it
    controllers: frozenset[str]  # v1 only; a v2 mount lists its own in cgroup.controllers


def parse_cgroup_mounts(mountinfo: str) -> tuple[CgroupMount, ...]:
    """The cgroup file systems in a ``/proc/<pid>/mountinfo`` text."""
    mounts: list[CgroupMount] = []
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, super_options = tail[0], tail[2].split(",")
        root, mount_point = _unescape(fields[3]), Path(_unescape(fields[4]))
        if fstype == "cgroup2":
            mounts.append(CgroupMount(2, mount_point, root, frozenset()))
        elif fstype == "cgroup":
            names = frozenset(o for o in super_options if o not in ("rw", "ro"))
            mounts.append(CgroupMount(1, mount_point, root, names))
    return tuple(mounts)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller -> path; the v2 hierarchy is the key ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


class Cgroup:
    """The cgroup directories made for one run, and what each one enforces."""

    def __init__(self, dirs: dict[Path, Literal[1, 2]], enforced: dict[str, Path]) -> None:
        self._dirs = dirs
        self._enforced = enforced

    @property
    def enforced(self) -> frozenset[str]:
        return frozenset(self._enforced)

    @property
    def description(self) -> str:
        """For the record, e.g. ``cgroup-v1:memory,pids``."""
        versions = sorted({self._dirs[d] for d in self._enforced.values()})
        names = ",".join(sorted(self._enforced))
        return "+".join(f"cgroup-v{v}" for v in versions) + f":{names}"

    def join(self, pid: int) -> None:
        """Move ``pid`` (still waiting at the gate) into every directory."""
        for path in self._dirs:
            (path / "cgroup.procs").write_text(str(pid))

    def limit_hits(self) -> tuple[str, ...]:
        """The limits the run ran into: ``pids`` (a fork failed), ``memory`` (an OOM kill)."""
        hits: list[str] = []
        pids_dir = self._enforced.get("pids")
        if pids_dir is not None and _event_count(pids_dir / "pids.events", "max") > 0:
            hits.append("pids")
        mem_dir = self._enforced.get("memory")
        if mem_dir is not None:
            events = "memory.events" if self._dirs[mem_dir] == 2 else "memory.oom_control"
            if _event_count(mem_dir / events, "oom_kill") > 0:
                hits.append("memory")
        return tuple(hits)

    def kill_all(self, timeout: float = 2.0) -> None:
        """SIGKILL every process left in the cgroup, until none is left or time is up."""
        deadline = time.monotonic() + timeout
        for path, version in self._dirs.items():
            kill_file = path / "cgroup.kill"
            if version == 2 and kill_file.exists():
                kill_file.write_text("1")
            while pids := _read_pids(path / "cgroup.procs"):
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                if time.monotonic() > deadline:
                    log.warning("processes %s still in %s after SIGKILL", pids, path)
                    break
                time.sleep(0.002)

    def remove(self, timeout: float = 1.0) -> None:
        """Remove the directories; the kernel refuses (EBUSY) until the last task is reaped."""
        deadline = time.monotonic() + timeout
        for path in sorted(self._dirs, reverse=True):
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        log.warning("could not remove cgroup %s: %s", path, exc)
                        break
                    time.sleep(0.005)


def create_cgroup(limits: ResourceLimits, proc_self: Path = Path("/proc/self")) -> Cgroup | None:
    """Make a cgroup below ours with the process and memory limits, or None if we cannot."""
    try:
        mounts = parse_cgroup_mounts((proc_self / "mountinfo").read_text())
        ours = parse_proc_cgroup((proc_self / "cgroup").read_text())
    except OSError as exc:
        log.debug("no cgroup information: %s", exc)
        return None
    name = f"moat-{os.getpid()}-{secrets.token_hex(4)}"
    dirs: dict[Path, Literal[1, 2]] = {}
    enforced: dict[str, Path] = {}
    for controller in CONTROLLERS:
        placed = _place(controller, mounts, ours)
        if placed is None:
            continue
        parent, version = placed
        child = parent / name
        if child not in dirs:
            if not _make_dir(parent, child):
                continue
            dirs[child] = version
        if _write_limit(child, version, controller, limits):
            enforced[controller] = child
    for path in [d for d in dirs if d not in enforced.values()]:
        with contextlib.suppress(OSError):
            path.rmdir()
        del dirs[path]
    return Cgroup(dirs, enforced) if enforced else None


def apply_rlimits(
    pid: int, limits: ResourceLimits, enforced: frozenset[str], is_root: bool
) -> tuple[str, ...]:
    """Set the rlimits a cgroup does not cover on ``pid``; return their names."""
    wanted: list[tuple[str, int, int]] = [
        ("core", resource.RLIMIT_CORE, 0),
        # The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
        ("cpu", resource.RLIMIT_CPU, limits.max_cpu_seconds),
    ]
    if "memory" not in enforced:
        wanted.append(("as", resource.RLIMIT_AS, limits.max_memory_bytes))
    if "pids" not in enforced and not is_root:
        wanted.append(("nproc", resource.RLIMIT_NPROC, limits.max_processes))
    applied: list[str] = []
    for label, which, value in wanted:
        _, hard = resource.prlimit(pid, which)
        # Only ever lower a limit: raising one needs privileges we should not use.
        ceiling = hard if hard != resource.RLIM_INFINITY else value + 1
        soft_value = min(value, ceiling)
        hard_value = min(value + 1, ceiling) if label == "cpu" else soft_value
        resource.prlimit(pid, which, (soft_value, hard_value))
        applied.append(label)
    return tuple(applied)


def _place(
    controller: str, mounts: tuple[CgroupMount, ...], ours: dict[str, str]
) -> tuple[Path, Literal[1, 2]] | None:
    """Where to make our cgroup for ``controller``: below our own, in its hierarchy."""
    for mount in mounts:
        if mount.version == 1 and controller in mount.controllers:
            parent = _host_path(mount, ours.get(controller))
            return (parent, 1) if parent is not None else None
    for mount in mounts:
        if mount.version != 2:
            continue
        parent = _host_path(mount, ours.get(""))
        if parent is None or not _enable_v2(parent, controller):
            return None
        return parent, 2
    return None


def _host_path(mount: CgroupMount, path: str | None) -> Path | None:
    if path is None:
        return None
    root = mount.root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None  # our cgroup is outside what this mount shows
    return mount.mount_point / path[len(root) :].lstrip("/")


def _enable_v2(parent: Path, controller: str) -> bool:
    try:
        if controller not in (parent / "cgroup.controllers").read_text().split():
            return False
        if controller in (parent / "cgroup.subtree_control").read_text().split():
            return True
        # Refused (EBUSY) when our cgroup holds processes and is not the root.
        (parent / "cgroup.subtree_control").write_text(f"+{controller}")
        return True
    except OSError as exc:
        log.debug("cgroup v2 %s not available at %s: %s", controller, parent, exc)
        return False


def _make_dir(parent: Path, child: Path) -> bool:
    _remove_stale(parent)
    try:
        child.mkdir()
        return True
    except OSError as exc:
        log.debug("cannot make cgroup %s: %s", child, exc)
        return False


def _write_limit(path: Path, version: int, controller: str, limits: ResourceLimits) -> bool:
    if controller == "pids":
        files = [("pids.max", limits.max_processes)]
    elif version == 2:
        files = [("memory.max", limits.max_memory_bytes), ("memory.swap.max", 0)]
    else:
        files = [
            ("memory.limit_in_bytes", limits.max_memory_bytes),
            ("memory.memsw.limit_in_bytes", limits.max_memory_bytes),
        ]
    required, *optional = files
    try:
        (path / required[0]).write_text(str(required[1]))
    except OSError as exc:
        log.debug("cannot set %s in %s: %s", required[0], path, exc)
        return False
    for file, value in optional:
        # Swap accounting is often off; the main limit still holds.
        if (path / file).exists():
            try:
                (path / file).write_text(str(value))
            except OSError as exc:
                log.debug("cannot set %s in %s: %s", file, path, exc)
    return True


def _remove_stale(parent: Path) -> None:
    """Remove empty cgroups left by Moat processes that died before cleaning up."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _STALE.fullmatch(entry.name)
        if match is None or _is_alive(int(match.group(1))):
            continue
        try:
            entry.rmdir()
        except OSError as exc:
            log.debug("stale cgroup %s stays: %s", entry, exc)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pids(procs: Path) -> list[int]:
    try:
        return [int(line) for line in procs.read_text().split()]
    except FileNotFoundError:
        return []


def _event_count(path: Path, key: str) -> int:
    try:
        text = path.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
