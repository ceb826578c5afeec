"""Run one process tree: one pipe for all its output, a deadline, and a kill switch.

Both sandboxes start their command through ``run_process``. The command gets
its own session and process group, stdin from /dev/null, and stdout and stderr
on one pipe, read here in the calling thread (so Ctrl-C in that thread reaches
us, and we kill the tree before re-raising). At most ``max_output`` bytes are
kept; the rest is read and counted, so a command that prints gigabytes costs
nothing but time.

Every command starts behind a gate: a tiny shell that waits for one line on
stdin before it execs the real command. The ``prepare`` step (cgroups, resource
limits) runs while it waits, so the limits apply before the command's first
instruction, without ``preexec_fn`` (unsafe while other threads run). And a
Ctrl-C that lands inside ``Popen`` itself, before we hold the process, closes
the gate's stdin: the gate exits and nothing runs unaccounted for.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The gate: wait for the go line, then become the command with stdin from /dev/null.
# A closed pipe without a line means the parent gave up: exit without running anything.
# The shell exports PWD on its own; unset it unless the caller passed one.
_GATE = 'read -r _ || exit 125; exec "$@" </dev/null'

# After the command exits, how long stragglers still holding the pipe may keep it.
_DRAIN_GRACE_S = 0.25
_READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class ProcessOutcome:
    # As a shell reports it: 128 + N when a signal N killed the command.
    exit_code: int
    output: bytes
    output_bytes: int  # everything the command printed, kept or not
    timed_out: bool
    duration_s: float

    @property
    def output_truncated(self) -> bool:
        return self.output_bytes > len(self.output)


def kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command's process group (it leads its own session)."""
    # Already gone; or (PermissionError, on some kernels) only zombies remain.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    max_output: int,
    kill: Callable[[subprocess.Popen[bytes]], None] = kill_process_group,
    prepare: Callable[[int], None] | None = None,
) -> ProcessOutcome:
    """Run ``argv`` to its end, its timeout, or a ``KeyboardInterrupt``.

    ``kill`` ends everything the command started; it is called when the
    command exits (to reap what it left in the background), on timeout and on
    any exception. ``prepare(pid)`` runs while the command waits at the gate.
    """
    started = time.monotonic()
    deadline = started + max(timeout, 0.0)
    gate = _GATE if "PWD" in env else f"unset PWD; {_GATE}"
    proc = subprocess.Popen(
        # "sh" as $0: what the shell says if argv[0] cannot be run ("sh: 1: exec: x: not found").
        ["/bin/sh", "-c", gate, "sh", *argv],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )
    try:
        assert proc.stdin is not None
        if prepare is not None:
            prepare(proc.pid)
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        reader = _Reader(proc, max_output)
        timed_out = reader.read_until_exit(deadline)
        # Timed out or done: either way nothing it started may outlive it.
        kill(proc)
        reader.drain(time.monotonic() + _DRAIN_GRACE_S)
        returncode = proc.wait()
    except BaseException:
        kill(proc)
        proc.wait()
        raise
    finally:
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
    return ProcessOutcome(
        exit_code=128 - returncode if returncode < 0 else returncode,
        output=bytes(reader.kept),
        output_bytes=reader.total,
        timed_out=timed_out,
        duration_s=time.monotonic() - started,
    )


class _Reader:
    """Reads the output pipe and watches for the command's exit, without reaping it."""

    def __init__(self, proc: subprocess.Popen[bytes], max_output: int) -> None:
        assert proc.stdout is not None
        self._proc = proc
        self._fd = proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._max = max(max_output, 0)
        self.kept = bytearray()
        self.total = 0
        self.eof = False

    def read_until_exit(self, deadline: float) -> bool:
        """Read output until the command exits; True when the deadline came first.

        The end of the output is not the end of the command (it may close its
        output and still be exiting), so this waits for the exit itself: killing
        the group at EOF would turn a clean exit into a SIGKILL.
        """
        pidfd = _open_pidfd(self._proc.pid)
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ, "out")
            if pidfd is not None:
                sel.register(pidfd, selectors.EVENT_READ, "exit")
            try:
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return True
                    # Without a pidfd, look at the process every 20 ms.
                    events = sel.select(remaining if pidfd is not None else min(remaining, 0.02))
                    for key, _ in events:
                        if key.data == "out":
                            self._read_once()
                            if self.eof:
                                sel.unregister(self._fd)
                    if pidfd is not None:
                        if any(key.data == "exit" for key, _ in events):
                            return False
                    elif _has_exited(self._proc.pid):
                        return False
            finally:
                if pidfd is not None:
                    os.close(pidfd)

    def drain(self, until: float) -> None:
        """Read what is left, for as long as writers hold the pipe and time allows."""
        with selectors.DefaultSelector() as sel:
            sel.register(self._fd, selectors.EVENT_READ)
            while not self.eof:
                remaining = until - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    return
                self._read_once()

    def _read_once(self) -> None:
        try:
            chunk = os.read(self._fd, _READ_CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            self.eof = True
            return
        self.total += len(chunk)
        room = self._max - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        # Older kernels (before 5.3) or platforms without pidfds: poll instead.
        return None


def _has_exited(pid: int) -> bool:
    # WNOWAIT leaves the zombie in place, so its pid (our process-group id) stays ours.
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None
