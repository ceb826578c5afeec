"""Keeping the conversation inside the model's context window.

Two tools: tool outputs over a size limit are cut in the middle with a note
that tells the model how to see the rest; and when the conversation nears the
window, older turns are replaced by a summary the model writes (compaction).
Compaction is the one thing allowed to change earlier prompt bytes.
"""

from __future__ import annotations

from moatcode.types import Message

CHARS_PER_TOKEN = 4
DEFAULT_WINDOW = 32_768

SUMMARY_REQUEST = (
    "The conversation is about to be shortened to fit the context window. Write a summary "
    "of the work so far for yourself to continue from: the task, what you found (files, "
    "functions, causes), what you changed, what is left to do, and anything the user asked "
    "for. Be specific and brief. Do not call any tool; answer with the summary only."
)


def estimate_tokens(n_bytes: int) -> int:
    """A rough token count from a size in bytes (about four bytes a token)."""
    return (n_bytes + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def cut_output(text: str, limit: int, hint: str) -> tuple[str, bool]:
    """Keep the head and the tail of ``text`` within ``limit`` characters."""
    if len(text) <= limit:
        return text, False
    head = text[: limit * 3 // 5]
    tail = text[-(limit - len(head)):]
    cut = len(text) - len(head) - len(tail)
    lines_cut = text.count("\n", len(head), len(text) - len(tail))
    how = hint or "ask for a smaller part"
    note = (f"\n[... {cut} characters ({lines_cut} lines) cut from the middle of this output; "
            f"to see them, {how} ...]\n")
    return head + note + tail, True


def split_for_compaction(messages: list[Message], keep_last: int, max_tail_chars: int) -> int:
    """Index where the kept tail starts: an assistant message, with its calls' answers.

    The tail holds at most ``keep_last`` messages and, where a later cut allows
    it, at most ``max_tail_chars`` characters. Everything between the first user
    turn and the cut is summarised; a result of 2 or less means nothing would be.
    """
    cuts = [i for i in range(max(2, len(messages) - keep_last), len(messages))
            if messages[i].role == "assistant"]
    for index in cuts:
        if sum(len(m.content) for m in messages[index:]) <= max_tail_chars:
            return index
    return cuts[-1] if cuts else len(messages)


def merge_summary(first_turn: Message, summary: str) -> Message:
    text = (f"{first_turn.content}\n\n<summary-of-earlier-work>\n{summary.strip()}\n"
            "</summary-of-earlier-work>\nContinue the task from where this summary ends.")
    return Message("user", text)
