"""Decoding settings (`GenerationConfig`), one generated continuation (`GenerationResult`), and
`key=value` parsing of settings for the interactive loop and the decoding study."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

from babyllama.utils.io import BabyLlamaError


class SettingError(BabyLlamaError, ValueError):
    """A generation setting is invalid (also a ValueError for Python callers)."""


@dataclass
class GenerationConfig:
    """Decoding settings. temperature 0 = greedy; num_beams > 1 = beam search (deterministic)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    min_p: float = 0.0  # 0 = off
    repetition_penalty: float = 1.0  # 1 = off; > 1 discourages tokens already in prompt or output
    presence_penalty: float = 0.0  # subtracted once from every token already generated
    frequency_penalty: float = 0.0  # subtracted per occurrence in the output
    no_repeat_ngram_size: int = 0  # 0 = off; ban tokens that would repeat an n-gram
    num_beams: int = 1
    length_penalty: float = 1.0  # beam score = sum logprob / length ** length_penalty
    early_stopping: bool = False  # beam: stop as soon as num_beams hypotheses are finished
    num_return_sequences: int = 1
    stop: tuple[str, ...] = ()  # stop strings; the text is cut before them
    stop_token_ids: tuple[int, ...] = ()  # extra stop tokens besides EOS
    ignore_eos: bool = False
    seed: int | None = None
    logprobs: bool = False  # per-token log-probabilities and entropies of the model's distribution
    top_logprobs: int = 0  # with logprobs: also the k most likely tokens and their log-probs at each step
    add_bos: bool = True
    truncate: str = "left"  # prompts too long for the context: "left" (warn, keep the end) or "error"

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        self.stop = tuple(self.stop)
        self.stop_token_ids = tuple(int(t) for t in self.stop_token_ids)
        self.validate()

    def validate(self) -> None:
        def bad(name: str, msg: str) -> SettingError:
            return SettingError(f"{name}={getattr(self, name)!r}: {msg}")

        for name in ("temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty",
                     "frequency_penalty", "length_penalty"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise bad(name, "must be a finite number")
        for name in ("max_new_tokens", "top_k", "no_repeat_ngram_size", "num_beams", "num_return_sequences",
                     "top_logprobs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise bad(name, "must be an integer")
        if self.max_new_tokens < 1:
            raise bad("max_new_tokens", "must be >= 1")
        if self.temperature < 0:
            raise bad("temperature", "must be >= 0 (0 = greedy)")
        if self.top_k < 0:
            raise bad("top_k", "must be >= 0 (0 = off)")
        if not 0 < self.top_p <= 1:
            raise bad("top_p", "must be in (0, 1] (1 = off)")
        if not 0 <= self.min_p <= 1:
            raise bad("min_p", "must be in [0, 1] (0 = off)")
        if self.repetition_penalty <= 0:
            raise bad("repetition_penalty", "must be > 0 (1 = off)")
        if self.no_repeat_ngram_size < 0:
            raise bad("no_repeat_ngram_size", "must be >= 0 (0 = off)")
        if self.num_beams < 1:
            raise bad("num_beams", "must be >= 1")
        if self.num_return_sequences < 1:
            raise bad("num_return_sequences", "must be >= 1")
        if self.num_beams > 1:
            if self.temperature > 0:
                raise bad("temperature", "beam search is deterministic; set temperature 0 with num_beams > 1")
            if self.top_logprobs:
                raise bad("top_logprobs", "works with greedy decoding and sampling, not beam search")
            if self.num_return_sequences > self.num_beams:
                raise bad("num_return_sequences", f"cannot exceed num_beams ({self.num_beams})")
        elif self.temperature == 0 and self.num_return_sequences > 1:
            raise bad("num_return_sequences", "greedy decoding gives one answer; set temperature > 0 or num_beams")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise bad("stop", "stop strings must be non-empty strings")
        if any(t < 0 for t in self.stop_token_ids):
            raise bad("stop_token_ids", "token ids must be >= 0")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise bad("seed", "must be an integer or None")
        if not 0 <= self.top_logprobs <= 20:
            raise bad("top_logprobs", "must be in 0..20")
        if self.top_logprobs and not self.logprobs:
            raise bad("top_logprobs", "needs logprobs=True")
        if self.truncate not in ("left", "error"):
            raise bad("truncate", "must be 'left' or 'error'")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.num_beams > 1

    def replace(self, **changes: Any) -> "GenerationConfig":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise SettingError(f"unknown generation setting(s) {unknown}; known: "
                               f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stop"], d["stop_token_ids"] = list(self.stop), list(self.stop_token_ids)
        return d


@dataclass
class GenerationResult:
    """One generated continuation. `tokens`/`text` exclude the prompt and any stop token/string."""

    prompt: str | None
    prompt_tokens: list[int]
    tokens: list[int]
    text: str
    finish_reason: str  # "stop" (stop token or string), "length" (max_new_tokens), "context" (model max_seq_len)
    prompt_index: int = 0
    sample_index: int = 0
    logprobs: list[float] | None = None  # log p(token) under the model's raw distribution
    entropies: list[float] | None = None  # entropy (nats) of that distribution at each step
    top_logprobs: list[list[tuple[int, float]]] | None = None  # per step: (token id, log p) most likely first
    score: float | None = None  # beam search: length-penalised sum of log-probs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """['temperature=0.8', 'stop=a|b'] -> typed dict for GenerationConfig.replace."""
    types = {f.name: f.type for f in dataclasses.fields(GenerationConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in types:
            raise SettingError(f"{item!r}: expected key=value with key one of {', '.join(types)}")
        t = str(types[key])
        try:
            if key == "stop":
                out[key] = tuple(s for s in value.split("|") if s)
            elif key == "stop_token_ids":
                out[key] = tuple(int(s) for s in value.split(",") if s)
            elif "bool" in t:
                out[key] = value.lower() in ("1", "true", "yes", "on")
            elif key == "seed":
                out[key] = None if value.lower() == "none" else int(value)
            elif "int" in t:
                out[key] = int(value)
            elif "float" in t:
                out[key] = float(value)
            else:
                out[key] = value
        except ValueError:
            raise SettingError(f"{item!r}: {value!r} is not a valid value for {key}") from None
    return out
