"""``BwrapSandbox``: each command in a fresh bubblewrap sandbox.

Per run: new user, PID, IPC, UTS, cgroup and network namespaces
(``--unshare-all``), no capabilities (``--cap-drop ALL``, which matters when
Moat runs as root), killed with its parent (``--die-with-parent``), in a new
terminal session (``--new-session``: no TIOCSTI into the user's terminal).
The file-system view is in ``mounts.py``, the limits in ``limits.py``.

The command is PID 2 under bubblewrap's init; when it exits, init exits and
the kernel kills everything else in the PID namespace, so nothing it started
in the background survives. On timeout or Ctrl-C we kill bubblewrap, which
takes the namespace with it, and then whatever is left in the run's cgroup.

Network: ``none`` keeps only the sandbox's own loopback. ``allowlist`` adds
the egress proxy (``proxy.py``) on a Unix socket bound at ``/run/moat`` and a
forwarder inside (``_forwarder.py``) listening on 127.0.0.1:3128, with
``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` (and lower-case) pointing at it.
``host`` shares the host network (``--share-net``); only managed policy should
allow it.

The environment is exactly the caller's, plus ``HOME`` (the empty home),
``TMPDIR`` (the private /tmp), the proxy variables in allowlist mode, and
``PWD``, which bubblewrap sets to the working directory.

``ExecResult.extra``: ``output_bytes`` (all the command printed), ``limits``
(how limits were enforced, e.g. ``cgroup-v1:memory,pids rlimit:core,cpu``),
``limit_hit`` (``pids`` and/or ``memory`` when the run hit a cgroup limit;
absent otherwise), ``network``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from moatcode.sandbox._process import ProcessOutcome, kill_process_group, run_process
from moatcode.sandbox.allowlist import parse_allowlist
from moatcode.sandbox.base import ExecResult, SandboxPolicy
from moatcode.sandbox.limits import (
    Cgroup,
    apply_rlimits,
    create_cgroup,
    limits_from_policy,
)
from moatcode.sandbox.mounts import (
    SANDBOX_TMP,
    MountPlan,
    hidden_paths,
    plan_mounts,
    refuse_unsafe_roots,
    writable_roots,
)
from moatcode.sandbox.proxy import EgressProxy, ProxyDecision

log = logging.getLogger(__name__)

NAMESPACE_FLAGS = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL")
PROXY_PORT = 3128
SANDBOX_RUN_DIR = Path("/run/moat")
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class BwrapSandbox:
    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        home: Path,
        bwrap: str = "/usr/bin/bwrap",
        on_network: Callable[[ProxyDecision], None] | None = None,
        runtime_dir: Path | None = None,
        python: str | None = None,
    ) -> None:
        """``home`` is the user's home directory, hidden from commands.

        ``on_network`` hears each egress-proxy decision (on a proxy thread).
        ``runtime_dir`` holds the proxy's socket (default: the system temp
        dir). ``python`` runs the forwarder inside the sandbox (default: this
        interpreter, whose installation is then bound back read-only).
        """
        self._policy = policy
        self._home = home
        self._bwrap = bwrap
        self._on_network = on_network
        self._runtime_dir = runtime_dir
        self._python = python or sys.executable or "/usr/bin/python3"
        self._rules = parse_allowlist(policy.allowed_hosts)
        self._limits = limits_from_policy(policy)
        # Fail at start-up, not at the first command, when the workspace cannot be confined.
        refuse_unsafe_roots(writable_roots(policy), home, hidden_paths(home))

    @property
    def name(self) -> str:
        return "bwrap"

    def plan(self, run_dir: Path | None = None) -> MountPlan:
        """The mounts a run would use now; ``run_dir`` is the proxy's directory."""
        readable: list[Path] = []
        binds: list[tuple[Path, Path]] = []
        if self._policy.network == "allowlist":
            hidden = (*hidden_paths(self._home).dirs, SANDBOX_TMP)
            readable += [
                p for p in _python_paths(self._python) if any(p.is_relative_to(h) for h in hidden)
            ]
            if run_dir is not None:
                binds.append((run_dir, SANDBOX_RUN_DIR))
        elif self._policy.network == "host":
            readable += _resolver_paths()
        return plan_mounts(
            self._policy,
            self._home,
            tmpfs_size=self._policy.max_memory_bytes,
            readable=readable,
            binds=binds,
        )

    def build_argv(self, argv: Sequence[str], cwd: Path, plan: MountPlan) -> list[str]:
        """The full bubblewrap command line for ``argv``."""
        network = ["--share-net"] if self._policy.network == "host" else []
        command = list(argv)
        if self._policy.network == "allowlist":
            command = [
                self._python,
                "-I",
                "-S",
                "-B",
                str(SANDBOX_RUN_DIR / "forwarder.py"),
                str(PROXY_PORT),
                str(SANDBOX_RUN_DIR / "proxy.sock"),
                "--",
                *argv,
            ]
        return [
            self._bwrap,
            *NAMESPACE_FLAGS,
            *network,
            *plan.args,
            "--chdir",
            str(cwd),
            "--",
            *command,
        ]

    def build_env(self, env: Mapping[str, str], plan: MountPlan) -> dict[str, str]:
        result = {**env, "HOME": str(plan.home), "TMPDIR": "/tmp"}
        if self._policy.network == "allowlist":
            result.update(dict.fromkeys(PROXY_ENV, f"http://127.0.0.1:{PROXY_PORT}"))
        return result

    def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        timeout: float,
        env: Mapping[str, str],
        max_output: int = 1 << 20,
    ) -> ExecResult:
        with contextlib.ExitStack() as cleanup:
            run_dir = None
            if self._policy.network == "allowlist":
                run_dir = Path(tempfile.mkdtemp(prefix="moat-", dir=self._runtime_dir))
                cleanup.callback(shutil.rmtree, run_dir)
                source = Path(__file__).with_name("_forwarder.py")
                shutil.copyfile(source, run_dir / "forwarder.py")
            plan = self.plan(run_dir)
            full_argv = self.build_argv(argv, cwd, plan)
            full_env = self.build_env(env, plan)
            cleanup.callback(_remove_placeholders, _make_placeholders(plan.placeholders))
            if run_dir is not None:
                proxy = EgressProxy(run_dir / "proxy.sock", self._rules, self._on_network)
                cleanup.enter_context(proxy)
            cgroup = create_cgroup(self._limits)
            if cgroup is not None:
                cleanup.callback(cgroup.remove)
                cleanup.callback(cgroup.kill_all)
            outcome, limits = self._execute(full_argv, full_env, timeout, max_output, cgroup)
            hits = cgroup.limit_hits() if cgroup is not None else ()
        extra = {
            "output_bytes": str(outcome.output_bytes),
            "limits": limits,
            "network": self._policy.network,
        }
        if hits:
            extra["limit_hit"] = ",".join(hits)
        return ExecResult(
            exit_code=outcome.exit_code,
            output=outcome.output,
            timed_out=outcome.timed_out,
            output_truncated=outcome.output_truncated,
            duration_s=outcome.duration_s,
            extra=extra,
        )

    def _execute(
        self,
        argv: list[str],
        env: dict[str, str],
        timeout: float,
        max_output: int,
        cgroup: Cgroup | None,
    ) -> tuple[ProcessOutcome, str]:
        """Run behind the gate; return the outcome and how the limits were enforced."""
        described: list[str] = []
        is_root = os.geteuid() == 0

        def prepare(pid: int) -> None:
            enforced: frozenset[str] = frozenset()
            if cgroup is not None:
                try:
                    cgroup.join(pid)
                    enforced = cgroup.enforced
                    described.append(cgroup.description)
                except OSError as exc:
                    # Made but not joinable (v2 delegation rules): the rlimits stand in.
                    log.warning("could not join the run's cgroup: %s", exc)
            rlimits = apply_rlimits(pid, self._limits, enforced, is_root)
            described.append("rlimit:" + ",".join(sorted(rlimits)))

        def kill(proc: subprocess.Popen[bytes]) -> None:
            kill_process_group(proc)
            if cgroup is not None:
                cgroup.kill_all()

        # The host-side working directory does not matter: bwrap changes into cwd inside.
        outcome = run_process(
            argv,
            cwd=Path("/"),
            env=env,
            timeout=timeout,
            max_output=max_output,
            kill=kill,
            prepare=prepare,
        )
        return outcome, " ".join(described)


def _python_paths(python: str) -> list[Path]:
    """What the forwarder's interpreter needs, in case it lives under a hidden directory."""
    real = Path(os.path.realpath(python))
    paths = [Path(python).parent, real.parent, real.parent.parent]
    if Path(python) == Path(sys.executable):
        paths += [Path(sys.prefix), Path(sys.base_prefix)]
    unique: list[Path] = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def _resolver_paths() -> list[Path]:
    """With the host network, DNS must work: resolv.conf often links into the hidden /run."""
    resolv = Path("/etc/resolv.conf")
    real = resolv.resolve()
    return [real.parent] if real != resolv else []


def _make_placeholders(paths: Sequence[Path]) -> list[Path]:
    made: list[Path] = []
    for path in paths:
        try:
            path.mkdir()
        except FileExistsError:
            continue  # another run made it; that run removes it
        made.append(path)
    return made


def _remove_placeholders(paths: list[Path]) -> None:
    for path in reversed(paths):
        try:
            path.rmdir()
        except OSError as exc:
            # Something on the host wrote into it during the run: leave it to the user.
            log.warning("placeholder %s not removed: %s", path, exc)
