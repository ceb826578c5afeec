from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from moatcode.sandbox.base import SandboxPolicy
from moatcode.sandbox.limits import (
    CgroupMount,
    ResourceLimits,
    apply_rlimits,
    create_cgroup,
    limits_from_policy,
    parse_cgroup_mounts,
    parse_proc_cgroup,
)

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
39 31 0:36 /inner /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
42 31 0:39 / /mnt/with\\040space rw - cgroup2 cgroup2 rw
"""


def test_parse_cgroup_mounts() -> None:
    assert parse_cgroup_mounts(MOUNTINFO) == (
        CgroupMount(1, Path("/sys/fs/cgroup/memory"), "/", frozenset({"memory"})),
        CgroupMount(1, Path("/sys/fs/cgroup/cpu,cpuacct"), "/", frozenset({"cpu", "cpuacct"})),
        CgroupMount(1, Path("/sys/fs/cgroup/pids"), "/inner", frozenset({"pids"})),
        CgroupMount(1, Path("/sys/fs/cgroup/systemd"), "/", frozenset({"name=systemd"})),
        CgroupMount(2, Path("/sys/fs/cgroup/unified"), "/", frozenset()),
        CgroupMount(2, Path("/mnt/with space"), "/", frozenset()),
    )


def test_parse_proc_cgroup() -> None:
    text = "9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/user.slice/x.scope\n"
    assert parse_proc_cgroup(text) == {
        "name=systemd": "/",
        "memory": "/a/b",
        "cpu": "/c",
        "cpuacct": "/c",
        "": "/user.slice/x.scope",
    }


def test_limits_from_policy() -> None:
    policy = SandboxPolicy(
        writable_roots=(), max_processes=7, max_memory_bytes=8, max_cpu_seconds=9
    )
    assert limits_from_policy(policy) == ResourceLimits(7, 8, 9)


def test_create_cgroup_sets_limits_and_cleans_up() -> None:
    limits = ResourceLimits(max_processes=21, max_memory_bytes=96 << 20, max_cpu_seconds=5)
    cgroup = create_cgroup(limits)
    if cgroup is None:
        pytest.skip("no cgroup can be made here (no permission or no delegated subtree)")
    dirs = list(Path("/sys/fs/cgroup").rglob(f"moat-{os.getpid()}-*"))
    try:
        values = {}
        for path in dirs:
            for name in ("pids.max", "memory.max", "memory.limit_in_bytes"):
                if (path / name).exists():
                    values[name.split(".")[0]] = int((path / name).read_text())
        assert values == {
            name: value
            for name, value in (("pids", 21), ("memory", 96 << 20))
            if name in cgroup.enforced
        }
        # A real process joins, is counted, and is killed by kill_all.
        child = subprocess.Popen(["sleep", "109"])
        cgroup.join(child.pid)
        assert all(str(child.pid) in (d / "cgroup.procs").read_text() for d in dirs)
        cgroup.kill_all()
        assert child.wait(timeout=5) == -9
        assert cgroup.limit_hits() == ()
    finally:
        cgroup.remove()
    assert [d for d in dirs if d.exists()] == []


def test_stale_cgroups_of_dead_processes_are_removed() -> None:
    first = create_cgroup(ResourceLimits(8, 1 << 30, 5))
    if first is None:
        pytest.skip("no cgroup can be made here (no permission or no delegated subtree)")
    parents = {d.parent for d in Path("/sys/fs/cgroup").rglob(f"moat-{os.getpid()}-*")}
    first.remove()
    # A Moat process that died (pid 2**22 + 1 is above any pid_max) left an empty cgroup.
    stale = [parent / "moat-4194305-0badcafe" for parent in parents]
    for path in stale:
        path.mkdir()
    second = create_cgroup(ResourceLimits(8, 1 << 30, 5))
    assert second is not None
    second.remove()
    assert [p for p in stale if p.exists()] == []


def test_apply_rlimits_on_a_waiting_process() -> None:
    child = subprocess.Popen(["sleep", "110"])
    try:
        limits = ResourceLimits(max_processes=50, max_memory_bytes=1 << 30, max_cpu_seconds=12)
        applied = apply_rlimits(child.pid, limits, frozenset({"pids"}), is_root=False)
        assert applied == ("core", "cpu", "as")
        got = {
            name: resource.prlimit(child.pid, which)
            for name, which in (
                ("core", resource.RLIMIT_CORE),
                ("cpu", resource.RLIMIT_CPU),
                ("as", resource.RLIMIT_AS),
            )
        }
        assert got == {"core": (0, 0), "cpu": (12, 13), "as": (1 << 30, 1 << 30)}
        assert apply_rlimits(child.pid, limits, frozenset(), is_root=False) == (
            "core",
            "cpu",
            "as",
            "nproc",
        )
        assert resource.prlimit(child.pid, resource.RLIMIT_NPROC) == (50, 50)
    finally:
        child.kill()
        child.wait()


def test_root_gets_no_nproc_limit_it_would_ignore() -> None:
    child = subprocess.Popen(["sleep", "111"])
    try:
        limits = ResourceLimits(50, 1 << 30, 12)
        assert apply_rlimits(child.pid, limits, frozenset({"memory"}), is_root=True) == (
            "core",
            "cpu",
        )
    finally:
        child.kill()
        child.wait()
