from __future__ import annotations

from pathlib import Path

from moatcode.sandbox.base import ExecResult
from moatcode.sandbox.refusing import RefusingSandbox


def test_every_command_is_refused_with_the_reason(tmp_path: Path) -> None:
    sandbox = RefusingSandbox("bubblewrap is not installed; install the bubblewrap package.")
    marker = tmp_path / "ran"
    result = sandbox.run(["bash", "-c", f"touch {marker}"], tmp_path, 10, {})
    assert result == ExecResult(126, b"Commands cannot run here: bubblewrap is not installed; "
                                     b"install the bubblewrap package.\n")
    assert not marker.exists()
    assert sandbox.name == "refused"
