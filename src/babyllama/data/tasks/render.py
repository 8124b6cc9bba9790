"""A task example and how it becomes chat-template tokens: the prompt for generation, ids + labels for training.

    ids = render_prompt(example, tokenizer, max_len=512, reserve=64)   # ends with <|assistant|>
    ids, labels = render_example(example, tokenizer, max_len=512)      # labels: IGNORE_INDEX on the prompt

The user turn is `instruction` + a blank line + `input`; the assistant's turn is `target`. Both go
through `data.chat.render`, so a task example is tokenized exactly as an SFT conversation is. A
prompt for a tokenizer without the chat tokens (a base model) is plain text: BOS, the user text, "\n".
When the whole does not fit, only the input is cut, never the instruction or the target: from its end by
default, and for an example whose target is a span of the input (SQuAD) the kept window is moved so
that the span stays inside it (training only; a prompt for scoring never looks at the answer).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

from babyllama.data.chat import IGNORE_INDEX, Rendered, has_chat_tokens, render
from babyllama.utils.io import BabyLlamaError


@dataclass(frozen=True)
class TaskExample:
    task: str                    # "squad" | "cnn_dm" | "sst" | "cfimdb"
    id: str                      # stable id: SQuAD question id, CNN/DM id or "file:line"
    instruction: str             # what to do (never cut); for SQuAD it includes the question
    input: str                   # the long part that may be cut: context, article, review
    target: str                  # the training target: first gold answer, highlights, label word
    references: tuple[str, ...]  # every gold answer (SQuAD), (highlights,), (label word,)
    source: str                  # "path:line" or "path#qid": where errors and predictions point back
    span: tuple[int, int] | None = None  # the target's [start, end) characters in `input`, when it is a span


def user_text(instruction: str, text: str) -> str:
    return f"{instruction}\n\n{text}" if text else instruction


def _messages(ex: TaskExample, text: str, answer: bool) -> list[dict[str, str]]:
    out = [{"role": "user", "content": user_text(ex.instruction, text)}]
    if answer:
        out.append({"role": "assistant", "content": ex.target})
    return out


def _render(ex: TaskExample, text: str, tokenizer: Any, answer: bool) -> Rendered:
    if not answer and not has_chat_tokens(tokenizer):  # a base model's prompt: plain text
        ids = [tokenizer.bos_id, *tokenizer.encode(user_text(ex.instruction, text) + "\n", bos=False)]
        return Rendered(ids, [0] * len(ids))
    return render(_messages(ex, text, answer), tokenizer, add_generation_prompt=not answer, warn=False)


def _span_pieces(ex: TaskExample, pieces: list[str]) -> tuple[int, int] | None:
    """The first and last piece that the target's span touches (None when the target is no span)."""
    if ex.span is None:
        return None
    ends, pos = [], 0
    for p in pieces:
        pos += len(p)
        ends.append(pos)
    first = next((i for i, e in enumerate(ends) if e > ex.span[0]), len(pieces) - 1)
    last = next((i for i, e in enumerate(ends) if e >= ex.span[1]), len(pieces) - 1)  # (trailing blanks)
    return first, last


def _window(pieces: list[str], keep: int, span: tuple[int, int] | None) -> str:
    """`keep` consecutive pieces: the first ones, or with a span the earliest ones that hold it."""
    start = 0 if span is None else max(0, span[1] - keep + 1)
    return "".join(pieces[start:start + keep]).strip()


def fit(ex: TaskExample, tokenizer: Any, max_len: int, answer: bool, room: int = 0) -> tuple[Rendered, str]:
    """The rendering of `ex` (with its answer when `answer`) in at most max_len - room tokens, and the
    input text it kept. Only the input is cut, at whitespace between words; when training on a span
    target, the kept input holds the whole span (an error when even the span alone does not fit)."""
    limit = max_len - room
    full = _render(ex, ex.input, tokenizer, answer)
    if len(full) <= limit:
        return full, ex.input
    words = _words(ex.input)
    span = _span_pieces(ex, words) if answer else None
    lo, hi = (0 if span is None else span[1] - span[0] + 1), len(words)  # the most words that fit, by bisection
    text = _window(words, lo, span)
    best = _render(ex, text, tokenizer, answer), text
    if len(best[0]) > limit:
        what = "instruction, answer and the words of its span" if span else \
            "instruction and target" if answer else "instruction"
        raise BabyLlamaError(f"{ex.source}: the {what} alone take {len(best[0])} tokens, more than the {limit} "
                             f"available; raise the context length")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        text = _window(words, mid, span)
        r = _render(ex, text, tokenizer, answer)
        if len(r) <= limit:
            lo, best = mid, (r, text)
        else:
            hi = mid - 1
    return best


def _words(text: str) -> list[str]:
    """The text in pieces, each word with the whitespace before it (they join back to the text, less
    trailing whitespace)."""
    return re.findall(r"\s*\S+", text)


def render_prompt(example: TaskExample, tokenizer: Any, max_len: int, reserve: int = 0) -> list[int]:
    """The prompt's ids (BOS ... <|assistant|>) with len(prompt) + reserve <= max_len; the input is cut
    from its end when needed, never the instruction."""
    return fit(example, tokenizer, max_len, answer=False, room=reserve)[0].ids


def render_example(example: TaskExample, tokenizer: Any, max_len: int) -> tuple[list[int], list[int]]:
    """Training ids and labels (the token itself on the target and its <|end|>, IGNORE_INDEX on the
    prompt) in at most max_len tokens; the target is kept whole, the input is cut (a span target stays
    inside the kept input)."""
    r = fit(example, tokenizer, max_len, answer=True)[0]
    return r.ids, [t if m else IGNORE_INDEX for t, m in zip(r.ids, r.mask)]


def render_rows(examples: list[TaskExample], tokenizer: Any, max_len: int, where: str = "task") -> list[Rendered]:
    """`data.chat.Rendered` rows for training batches (`data.chat.sft_tensors`); an example that does
    not fit even with its input cut is left out, with one warning saying how many were."""
    out, dropped = [], 0
    for ex in examples:
        try:
            out.append(fit(ex, tokenizer, max_len, answer=True)[0])
        except BabyLlamaError:
            dropped += 1
    if dropped:
        warnings.warn(f"{where}: {dropped} of {len(examples)} examples left out: their instruction and answer "
                      f"alone exceed the context of {max_len} tokens", stacklevel=2)
    return out
