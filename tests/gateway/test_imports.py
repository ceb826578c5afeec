"""The agent side and the CLI group stay light: no FastAPI, SQLAlchemy or uvicorn on import."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["moatcode.gateway.agent_link", "moatcode.gateway.commands"])
def test_importing_loads_no_server_libraries(module: str) -> None:
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'uvicorn', 'starlette', "
            "'prometheus_client') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"
