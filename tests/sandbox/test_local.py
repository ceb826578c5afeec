from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from moatcode.sandbox.base import ExecResult
from moatcode.sandbox.local import UnconfinedSandbox

from .conftest import PATH_ENV, processes_with


def _timeless(result: ExecResult) -> ExecResult:
    return dataclasses.replace(result, duration_s=0.0)


def test_output_is_stdout_and_stderr_interleaved(tmp_path: Path) -> None:
    result = UnconfinedSandbox().run(
        ["sh", "-c", "echo out; echo err >&2; echo out2; exit 3"], tmp_path, 10, PATH_ENV
    )
    assert _timeless(result) == ExecResult(
        exit_code=3, output=b"out\nerr\nout2\n", extra={"output_bytes": "13"}
    )


def test_environment_is_exactly_the_one_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOAT_TEST_CANARY", "must-not-leak")
    result = UnconfinedSandbox().run(["/usr/bin/env"], tmp_path, 10, {"ONLY": "this"})
    assert result.output == b"ONLY=this\n"


def test_runs_in_cwd(tmp_path: Path) -> None:
    result = UnconfinedSandbox().run(["pwd"], tmp_path, 10, PATH_ENV)
    assert result.output == f"{tmp_path}\n".encode()


def test_signal_death_is_reported_as_a_shell_would(tmp_path: Path) -> None:
    result = UnconfinedSandbox().run(["sh", "-c", "kill -TERM $$"], tmp_path, 10, PATH_ENV)
    assert (result.exit_code, result.timed_out) == (128 + signal.SIGTERM, False)


def test_missing_command_is_a_result_not_an_exception(tmp_path: Path) -> None:
    result = UnconfinedSandbox().run(["moat-no-such-command"], tmp_path, 10, PATH_ENV)
    assert _timeless(result) == ExecResult(
        exit_code=127,
        output=b"sh: 1: exec: moat-no-such-command: not found\n",
        extra={"output_bytes": "45"},
    )


def test_missing_working_directory_is_a_result(tmp_path: Path) -> None:
    result = UnconfinedSandbox().run(["true"], tmp_path / "gone", 10, PATH_ENV)
    assert result == ExecResult(
        exit_code=126, output=f"{tmp_path / 'gone'}: No such file or directory\n".encode()
    )


def test_a_given_pwd_is_kept(tmp_path: Path) -> None:
    # The gate's shell adds PWD on its own; it is removed unless the caller passed one.
    result = UnconfinedSandbox().run(["/usr/bin/env"], tmp_path, 10, {"PWD": str(tmp_path)})
    assert result.output == f"PWD={tmp_path}\n".encode()


def test_output_is_capped_and_the_rest_counted(tmp_path: Path) -> None:
    result = UnconfinedSandbox().run(
        ["head", "-c", "5000000", "/dev/zero"], tmp_path, 30, PATH_ENV, max_output=1000
    )
    assert _timeless(result) == ExecResult(
        exit_code=0,
        output=b"\0" * 1000,
        output_truncated=True,
        extra={"output_bytes": "5000000"},
    )


def test_background_processes_in_the_group_die_with_the_command(tmp_path: Path) -> None:
    marker = "103.25"
    started = time.monotonic()
    result = UnconfinedSandbox().run(
        ["sh", "-c", f"sleep {marker} & echo started"], tmp_path, 10, PATH_ENV
    )
    assert result.output == b"started\n"
    assert time.monotonic() - started < 5
    assert processes_with(f"sleep {marker}") == []


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    marker = "103.5"
    result = UnconfinedSandbox().run(
        ["sh", "-c", f"echo begin; sleep {marker} & sleep {marker}"], tmp_path, 0.5, PATH_ENV
    )
    assert (result.timed_out, result.exit_code, result.output) == (True, 137, b"begin\n")
    assert result.duration_s < 5
    assert processes_with(f"sleep {marker}") == []


def test_ctrl_c_kills_the_command_and_reraises(tmp_path: Path) -> None:
    marker = "103.75"
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            UnconfinedSandbox().run(["sleep", marker], tmp_path, 30, PATH_ENV)
    finally:
        timer.cancel()
    assert processes_with(f"sleep {marker}") == []


def test_name() -> None:
    assert UnconfinedSandbox().name == "none"
