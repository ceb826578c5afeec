"""The status line: model, mode, context used of the window, tokens this session."""

from __future__ import annotations

import pytest

from moatcode.ui.status import Status, format_status, format_tokens


@pytest.mark.parametrize(("count", "shown"), [
    (0, "0"), (999, "999"), (1234, "1.2k"), (45_678, "46k"), (2_500_000, "2.5M")])
def test_format_tokens(count: int, shown: str) -> None:
    assert format_tokens(count) == shown


def test_format_status_fits_the_width() -> None:
    status = Status(model="qwen2.5-coder-32b", mode="accept-edits", context_used=12_345,
                    context_window=32_768, session_tokens=56_789, ready=True)
    assert format_status(status) == (
        "qwen2.5-coder-32b · accept-edits mode · context 12k/33k (38%) · 57k tokens")
    assert format_status(status, 50) == "qwen2.5-coder-32b · accept-edits mode"
    assert format_status(status, 10) == "qwen2.5-c…"
    assert format_status(Status()) == "starting…"
