"""`moat serve-model` answered by Moat's own OpenAI-compatible client."""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import time

import pytest

from moatcode.guard.egress import create_http_client
from moatcode.models.base import ModelRequest, ModelTurn, TextChunk
from moatcode.models.openai_compat import OpenAICompatClient
from moatcode.types import Message, ToolSpec
from tests.e2e.conftest import MOAT, Project

# Checked without importing it: llama_cpp leaves /dev/null handles open at exit.
if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("llama-cpp-python (the local extra) is not installed; `make test` installs it",
                allow_module_level=True)


def test_serve_model_for_the_agents_client(project: Project) -> None:
    proc = subprocess.Popen([MOAT, "serve-model", "--port", "0", "--context-window", "2048"],
                            env=project.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = _wait_for_url(proc)
        with create_http_client([url], 60) as http:
            client = OpenAICompatClient(url, "SmolLM2-135M-Instruct.Q4_1.gguf", http,
                                        max_retries=0)
            assert client.list_models() == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
            assert client.context_window() == 2048
            request = ModelRequest((Message("system", "Be brief."), Message("user", "Hi!")),
                                   max_tokens=6, temperature=0.0)
            streamed = list(client.stream(request))
            turn = streamed[-1]
            assert isinstance(turn, ModelTurn)
            assert "".join(d.text for d in streamed if isinstance(d, TextChunk)) == turn.text
            assert turn.usage.prompt_tokens > 10 and 1 <= turn.usage.completion_tokens <= 6
            again = list(client.stream(request))[-1]
            assert isinstance(again, ModelTurn)
            assert again.usage.cached_tokens == turn.usage.prompt_tokens - 1  # same prompt
            tools = ModelRequest(request.messages,
                                 (ToolSpec("ping", "Check.", {"type": "object"}),),
                                 max_tokens=6, temperature=0.0)
            assert isinstance(list(client.stream(tools))[-1], ModelTurn)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped." in err


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/v1)", line)
        if match:
            return match.group(1)
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"moat serve-model did not start (exit {proc.poll()})")
