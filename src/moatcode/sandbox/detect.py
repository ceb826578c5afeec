"""Can bubblewrap confine commands on this machine? ``check_bwrap`` answers, with the fix.

It runs a real, empty sandbox with the options ``BwrapSandbox`` relies on, so
a kernel that forbids user namespaces (a container, Ubuntu's AppArmor
restriction) or a bubblewrap too old for ``--size`` shows up here, once at
start-up, and not as a failed command in the middle of a session.
"""

from __future__ import annotations

import shutil
import subprocess

from moatcode.sandbox.bwrap import NAMESPACE_FLAGS

# Where bubblewrap is installed by distribution packages; the CLI may pass $PATH.
DEFAULT_SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_FALLBACK = "or ask your administrator to allow unsandboxed commands"

_PROBE_MOUNTS = (
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--size", "1048576", "--tmpfs", "/tmp",
    "--tmpfs", "/tmp/ro", "--remount-ro", "/tmp/ro",
    "--ro-bind-try", "/nonexistent-moat-probe", "/tmp/absent",
)  # fmt: skip


def find_bwrap(search_path: str = DEFAULT_SEARCH_PATH) -> str | None:
    return shutil.which("bwrap", path=search_path)


def check_bwrap(bwrap: str | None = None, search_path: str = DEFAULT_SEARCH_PATH) -> str | None:
    """None when bubblewrap works here; otherwise one sentence saying why, naming the fix."""
    path = bwrap or find_bwrap(search_path)
    if path is None:
        return (
            "bubblewrap is not installed; install the bubblewrap package "
            f"(apt-get install bubblewrap), {_FALLBACK}."
        )
    argv = [path, *NAMESPACE_FLAGS, *_PROBE_MOUNTS, "--", "/bin/true"]
    try:
        probe = subprocess.run(argv, capture_output=True, env={}, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap at {path} could not be run ({exc}); reinstall it, {_FALLBACK}."
    if probe.returncode == 0:
        return None
    detail = probe.stderr.decode(errors="replace").strip().splitlines()
    message = detail[-1] if detail else f"exit status {probe.returncode}"
    if "Unknown option" in message or "unrecognized option" in message:
        return (
            f"bubblewrap at {path} is too old ({message}); install bubblewrap 0.6 or newer, "
            f"{_FALLBACK}."
        )
    return (
        f"bubblewrap cannot create a sandbox here ({message}); allow unprivileged user "
        "namespaces (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04 "
        f"kernel.apparmor_restrict_unprivileged_userns=0), {_FALLBACK}."
    )
