"""Text bookkeeping for one row: its output decoded as a continuation of the prompt, stop strings,
and the piece of new text that is safe to stream."""
from __future__ import annotations

from typing import Any, Sequence


class RowText:
    """Decode a row's output as a continuation of its prompt; cut at stop strings; stream new text."""

    CONTEXT = 8  # prompt tokens decoded in front of the output so its leading space survives

    def __init__(self, tokenizer: Any, prompt_ids: Sequence[int], stops: Sequence[str]) -> None:
        self.tok = tokenizer
        self.ctx = list(prompt_ids[-self.CONTEXT:])
        self.ctx_text = tokenizer.decode(self.ctx) if self.ctx else ""
        self.stops = list(stops)
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.emitted = ""
        self.checked = 0  # text before this index holds no stop string

    def text(self, ids: Sequence[int]) -> str:
        if not self.ctx:
            return self.tok.decode(list(ids))
        full = self.tok.decode(self.ctx + list(ids))
        if full.startswith(self.ctx_text):
            return full[len(self.ctx_text):]
        return self.tok.decode(list(ids))

    def find_stop(self, text: str) -> int:
        """Index of the first stop string in `text`, or -1."""
        if not self.stops:
            return -1
        start = max(0, self.checked - self.hold)
        hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
        self.checked = len(text.rstrip("\ufffd"))  # a trailing incomplete character may still change
        return min(hits) if hits else -1

    def new_piece(self, text: str, final: bool) -> str:
        """Text safe to show now: complete UTF-8 and not possibly the start of a stop string."""
        if not final:  # hold back a trailing incomplete character and a possible stop-string start
            text = text[:max(len(text.rstrip("\ufffd")) - self.hold, 0)]
        if not text.startswith(self.emitted) or len(text) <= len(self.emitted):
            return ""
        piece = text[len(self.emitted):]
        self.emitted = text
        return piece
