"""The embedded backend's speed, against plain llama-cpp-python on the same prompt.

Part 1 runs the same conversation through Moat's ``LlamaCppClient`` and
through llama-cpp-python's own ``create_chat_completion`` (both render the
GGUF's chat template), alternating, with the KV cache cleared before each run,
and prints prompt and generation tokens per second for both and Moat's cost.
It uses one thread and counts the process's CPU time as well as wall time:
on a shared machine the wall clock swings with other load, while CPU time
per token measures the work each layer does.
Part 2 runs a scripted 5-step session (each request extends the previous one,
as Moat's prompts do) with the KV cache kept between steps and with it cleared,
and prints the prompt tokens evaluated per step.

Run: .venv/bin/python bench/embedded.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _common import median, quiet_stderr

from moatcode.agent.prompt import load_system_prompt
from moatcode.models.base import ModelRequest, ModelTurn, TextChunk
from moatcode.models.embedded import LlamaCppClient, find_default_model
from moatcode.types import Message

ROUNDS = 7
GENERATE = 48
TASK = ("test_ops.py fails: add(2, 3) returns -1. Read calc/ops.py, find the bug, fix it, "
        "and run the tests with python -m pytest -q.")


Run = tuple[float, float, int]  # seconds to the first token, seconds after it, tokens


def moat_run(client: LlamaCppClient, messages: tuple[Message, ...],
             clock: Callable[[], float]) -> Run:
    client.load().reset()
    started = clock()
    first = 0.0
    turn: ModelTurn | None = None
    for delta in client.stream(ModelRequest(messages, max_tokens=GENERATE, temperature=0.0)):
        if isinstance(delta, TextChunk) and not first:
            first = clock()
        elif isinstance(delta, ModelTurn):
            turn = delta
    end = clock()
    assert turn is not None
    return first - started, end - first, turn.usage.completion_tokens


def plain_run(llm: Any, messages: tuple[Message, ...], prompt_tokens: int,
              clock: Callable[[], float]) -> Run:
    """llama-cpp-python on its own: its chat API renders the GGUF's template too."""
    llm.reset()
    started = clock()
    first = 0.0
    for chunk in llm.create_chat_completion(
            [{"role": m.role, "content": m.content} for m in messages],
            max_tokens=GENERATE, temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content") and not first:
            first = clock()
    end = clock()
    return first - started, end - first, llm.n_tokens - prompt_tokens


def speeds(runs: list[Run], prompt_tokens: int) -> tuple[float, float]:
    prefill = median([prompt_tokens / ttft for ttft, _, _ in runs])
    generation = median([(n - 1) / rest for _, rest, n in runs if n > 1 and rest > 0])
    return prefill, generation


def main() -> None:
    with quiet_stderr():
        client = LlamaCppClient(find_default_model(), context_window=4096, threads=1)
        llm = client.load()
    messages = (Message("system", load_system_prompt()), Message("user", TASK))
    tokens = client.tokenize(client.render(messages))
    print(f"model: {client.model}, {len(tokens)} prompt tokens, up to {GENERATE} generated, "
          f"1 thread, median of {ROUNDS} alternating runs, KV cache cleared before each")
    for label, clock in (("CPU time", time.process_time), ("wall time", time.perf_counter)):
        moat_runs, plain_runs = [], []
        for _ in range(ROUNDS):
            plain_runs.append(plain_run(llm, messages, len(tokens), clock))
            moat_runs.append(moat_run(client, messages, clock))
        moat_prefill, moat_gen = speeds(moat_runs, len(tokens))
        plain_prefill, plain_gen = speeds(plain_runs, len(tokens))
        print(f"\n{label}:{'':<13}{'prompt tok/s':>14}{'generation tok/s':>18}")
        print(f"{'llama-cpp-python':<22}{plain_prefill:>14.1f}{plain_gen:>18.1f}")
        print(f"{'Moat LlamaCppClient':<22}{moat_prefill:>14.1f}{moat_gen:>18.1f}")
        print(f"Moat's layer costs {1 - moat_prefill / plain_prefill:+.1%} on prompt speed and "
              f"{1 - moat_gen / plain_gen:+.1%} on generation (target: under 5%)")
    session(client)
    client.close()


def session(client: LlamaCppClient) -> None:
    messages: list[Message] = [Message("system", load_system_prompt()), Message("user", TASK)]
    steps = [
        "     1\tdef add(a, b):\n     2\t    return a - b\n",
        "Edited calc/ops.py: replaced 1 occurrence.",
        "F\n1 failed in 0.02s\n[exit code 1]",
        "     1\tdef add(a, b):\n     2\t    return a + b\n",
        ".\n1 passed in 0.01s\n[exit code 0]",
    ]
    conversations = []
    for result in steps:
        conversations.append(tuple(messages))
        messages += [Message("assistant", "Next step."), Message("user", f"Result:\n{result}")]
    print("\nscripted 5-step session (each request extends the previous one):")
    print(f"{'step':>5}{'prompt tokens':>15}{'evaluated, cache kept':>23}"
          f"{'evaluated, cache cleared':>26}")
    totals = [0, 0]
    times = [0.0, 0.0]
    kept_usage = []
    client.load().reset()
    started = time.perf_counter()
    for conversation in conversations:
        turn = _last(client, conversation)
        kept_usage.append(turn.usage)
    times[0] = time.perf_counter() - started
    started = time.perf_counter()
    cleared_usage = []
    for conversation in conversations:
        client.load().reset()
        cleared_usage.append(_last(client, conversation).usage)
    times[1] = time.perf_counter() - started
    for step, (kept, cleared) in enumerate(zip(kept_usage, cleared_usage, strict=True), 1):
        evaluated_kept = kept.prompt_tokens - kept.cached_tokens
        evaluated_cleared = cleared.prompt_tokens - cleared.cached_tokens
        totals[0] += evaluated_kept
        totals[1] += evaluated_cleared
        print(f"{step:>5}{kept.prompt_tokens:>15}{evaluated_kept:>23}{evaluated_cleared:>26}")
    print(f"{'total':>5}{'':>15}{totals[0]:>23}{totals[1]:>26}")
    print(f"the cache saves {1 - totals[0] / totals[1]:.0%} of prompt evaluation; session time "
          f"{times[0]:.1f}s kept vs {times[1]:.1f}s cleared ({times[1] / times[0]:.1f}x)")


def _last(client: LlamaCppClient, messages: tuple[Message, ...]) -> ModelTurn:
    items = list(client.stream(ModelRequest(messages, max_tokens=8, temperature=0.0)))
    turn = items[-1]
    assert isinstance(turn, ModelTurn)
    return turn


if __name__ == "__main__":
    main()
