"""WikiText-2 perplexity the ways papers report it, through the sliding-window scorer of
`eval/perplexity.py`.

    report = evaluate_wikitext(model, tok)                 # ../shared/data/wikitext2/wiki.test.raw
    report["metrics"]["word_perplexity"]["mean"]

The raw test file is read as one document (CRLF -> LF), encoded with BOS, and scored as one stream
with windows of the model's context and half-context stride. Three numbers:
token perplexity exp(NLL / tokens) (depends on the tokenizer), bits per byte NLL / ln 2 / UTF-8
bytes, and word perplexity exp(NLL / words) with words = the whitespace-separated words of the
text (the number Transformer-XL, GPT-2 and lm-eval-harness report for WikiText; comparable across
tokenizers). Baseline: a uniform distribution over the vocabulary, the same three ways.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from babyllama.data.tasks import shared_data
from babyllama.eval.perplexity import PerplexityResult, perplexity_of_tokens
from babyllama.utils.io import BabyLlamaError


def read_wikitext(path: str | Path, lines: int | None = None) -> str:
    """The text of a raw WikiText file (its first `lines` lines when given), with LF line ends."""
    path = Path(path)
    if not path.is_file():
        raise BabyLlamaError(f"{path}: WikiText file not found (the raw test split, wiki.test.raw); "
                             f"give it with --file")
    try:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as e:
        raise BabyLlamaError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    if lines is not None:
        text = "".join(text.splitlines(keepends=True)[:lines])
    if not text.split():
        raise BabyLlamaError(f"{path}: no text to score")
    return text


def word_perplexity(result: PerplexityResult, words: int) -> float:
    """exp(total NLL / words): perplexity per whitespace word of the scored text."""
    return math.exp(result.nll / words)


def evaluate_wikitext(model: Any, tokenizer: Any, *, path: str | Path | None = None, n: int | None = None,
                      context: int | None = None, stride: int | None = None, batch_size: int = 8,
                      **_: Any) -> dict[str, Any]:
    """Token perplexity, bits per byte and word perplexity of the file (its first `n` lines when
    given, None: all). Returns the task report."""
    path = Path(path) if path is not None else shared_data() / "wikitext2" / "wiki.test.raw"
    text = read_wikitext(path, n)
    lines = len(text.splitlines())
    total_lines = len(read_wikitext(path).splitlines()) if n is not None else lines
    tokens = tokenizer.encode(text, bos=True, eos=False)
    nbytes, words = len(text.encode("utf-8")), len(text.split())
    res = perplexity_of_tokens(model, tokens, context, stride, batch_size, nbytes=nbytes)
    V = model.config.vocab_size
    uniform = {"token_perplexity": float(V), "bits_per_byte": res.tokens * math.log2(V) / nbytes,
               "word_perplexity": math.exp(res.tokens * math.log(V) / words)}
    values = {"token_perplexity": res.perplexity, "bits_per_byte": res.bits_per_byte,
              "word_perplexity": word_perplexity(res, words)}
    return {"task": "wikitext", "mode": f"stream, context {res.context}, stride {res.stride}", "n": lines,
            "metrics": {k: {"mean": v, "ci95_low": None, "ci95_high": None, "n": res.tokens}
                        for k, v in values.items()},
            "baselines": {k: {"uniform over the vocabulary": v} for k, v in uniform.items()},
            "subset": None if lines == total_lines else f"first {lines} of {total_lines} lines",
            "settings": {"file": str(path), "context": res.context, "stride": res.stride, "tokens": res.tokens,
                         "bytes": nbytes, "words": words, "nll": res.nll, "seconds": round(res.seconds, 2)},
            "rows": [{"id": str(path), "tokens": res.tokens, "bytes": nbytes, "words": words, "nll": res.nll}]}
