"""Vocabulary extension of a model and its SentencePiece tokenizer (`babyllama extend`).

    ext = extend_vocabulary(model, tokenizer, texts, n_new=2000)
    ext.model, ext.tokenizer, ext.added     # the model grown in place; ids 0..V-1 unchanged

The tokenizer gains up to `n_new` pieces learned on `texts` (tokenizers.extend_tokenizer); the embedding
and output matrices gain one row per new piece (model.resize_vocab), each the mean of the rows of the
pieces the old tokenizer splits that piece into (Chinese-LLaMA's initialisation), in each matrix
separately when they are untied. Old rows are kept exactly, so on text that tokenizes the same the
extended model gives the same logits over the old ids. This sits at the checkpoint level because it
needs both the model and the tokenizers, and nothing above them.

Two initialisations (`init=`):
- "mean": each new row is exactly the mean of its sub-piece rows.
- "calibrated" (default): the same mean, then each new output row is moved along h, the base model's
  mean final hidden state on the corpus (read with the old tokenizer), until its logit at h is
  log Z + log f: log Z the mean log-partition of the base model over those positions, f the piece's
  add-one unigram frequency in the corpus under the new tokenizer. At an average new-language context
  a new piece then gets about its corpus frequency as its share, where the plain mean inherits the byte
  pieces' very low logits. Untied models move their input rows by the same rule (measured better than
  keeping the plain mean there). zh bits per byte at step 0 (docs/LOG.md): stories260K (tied) 3.19
  against 12.0 for "mean" and 5.83 for random rows; a small untied model 3.70 against 7.93 and 4.15.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch

from babyllama.model import Llama, resize_vocab
from babyllama.tokenizers import Tokenizer, extend_tokenizer
from babyllama.tokenizers.llama2c import SPACE
from babyllama.utils.io import BabyLlamaError

EXTENDABLE = "a SentencePiece tokenizer (a .model file or a llama2.c tokenizer.bin)"
INITS = ("calibrated", "mean")
CALIBRATION_TOKENS = 8192  # corpus tokens (old tokenizer) the mean hidden state and log Z are taken over


@dataclass
class Extension:
    model: Llama
    tokenizer: Tokenizer
    old_vocab_size: int
    requested: int
    added: int
    init: str = "mean"

    def info(self) -> dict[str, Any]:
        """What a model folder's config.json records under "extended"."""
        return {"old_vocab_size": self.old_vocab_size, "new_vocab_size": self.tokenizer.vocab_size,
                "requested": self.requested, "added": self.added, "init": self.init}


def sub_pieces(old: Tokenizer, new: Tokenizer) -> list[list[int]]:
    """For each id of `new` past `old`'s vocabulary, the old ids its piece splits into under `old`
    (encoded as plain text: no BOS, no dummy prefix)."""
    proto = old.model_proto()
    proto.normalizer_spec.add_dummy_prefix = False
    plain = Tokenizer(proto.SerializeToString(), source="sub-pieces")
    return [plain.encode(new.id_to_piece(i).replace(SPACE, " "), bos=False)
            for i in range(old.vocab_size, new.vocab_size)]


def extend_vocabulary(model: Llama, tokenizer: Any, texts: Iterable[str], n_new: int, *,
                      init: str = "calibrated", seed: int = 0, num_threads: int | None = None) -> Extension:
    """Extend `tokenizer` with up to `n_new` pieces from `texts` and grow `model` to match (in place).
    Fewer pieces are added when the corpus does not supply that many; `Extension.added` says how many.
    `init`: "calibrated" or "mean" (see the module docstring)."""
    if init not in INITS:
        raise BabyLlamaError(f"init {init!r}: choose one of {', '.join(INITS)}")
    if not isinstance(tokenizer, Tokenizer):
        raise BabyLlamaError(f"the model's tokenizer is a {type(tokenizer).__name__}; only {EXTENDABLE} can be "
                             f"extended")
    if model.config.vocab_size != tokenizer.vocab_size:
        raise BabyLlamaError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{model.config.vocab_size}; extend the model with the tokenizer it was trained with")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise BabyLlamaError("the corpus is empty: no text to learn new pieces from")
    new_tok = extend_tokenizer(tokenizer, texts, n_new, seed=seed, num_threads=num_threads)
    rows = sub_pieces(tokenizer, new_tok)
    old = tokenizer.vocab_size
    target = calibration(model, tokenizer, new_tok, texts) if init == "calibrated" else None
    resize_vocab(model, new_tok.vocab_size, rows)
    if target is not None:
        h, logit = target
        matrices = [model.output.weight] + ([] if model.config.tie_embeddings else [model.tok_embeddings.weight])
        with torch.no_grad():
            for w in matrices:  # each new row moves along h until h . row = `logit` (for the output: its logit at h)
                added = w[old:]
                added += ((logit - added @ h) / h.dot(h))[:, None] * h
    return Extension(model, new_tok, old, n_new, new_tok.vocab_size - old, init)


def calibration(model: Llama, old: Tokenizer, new: Tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """What the "calibrated" init aims at: (h, logits). h is the base model's mean final hidden state
    over the first CALIBRATION_TOKENS tokens of `texts` read with the old tokenizer (BOS per document,
    in windows of min(256, max_seq_len) tokens); logits[i] = log Z + log f for new id V + i, with log Z
    the mean log-partition over those positions and f the add-one unigram frequency of the piece in
    `texts` under the new tokenizer."""
    ids: list[int] = []
    for t in texts:
        ids.extend(old.encode(t))
        if len(ids) >= CALIBRATION_TOKENS:
            break
    ids = ids[:CALIBRATION_TOKENS]
    span = min(256, model.config.max_seq_len, len(ids))
    windows = torch.tensor(ids[:len(ids) // span * span]).view(-1, span)
    p = next(model.parameters())
    h_sum, lse_sum = torch.zeros(model.config.dim, dtype=torch.float64), 0.0
    training = model.training
    model.eval()
    with torch.no_grad():
        for w in windows:
            res = model(w[None].to(p.device))
            h_sum += res.hidden[0].double().sum(0).cpu()
            lse_sum += float(torch.logsumexp(res.logits[0].double(), -1).sum())
    model.train(training)
    n = windows.numel()
    counts = torch.zeros(new.vocab_size, dtype=torch.float64)
    for t in texts:
        counts += torch.bincount(torch.tensor(new.encode(t, bos=False), dtype=torch.long), minlength=new.vocab_size)
    freq = (counts[old.vocab_size:] + 1) / (counts.sum() + new.vocab_size)
    return (h_sum / n).to(p), (lse_sum / n + freq.log()).to(p)


def fertility(tokenizer: Any, texts: Iterable[str]) -> dict[str, float]:
    """Tokens per character and per UTF-8 byte of `texts` (no BOS counted)."""
    tokens = chars = nbytes = 0
    for t in texts:
        tokens += len(tokenizer.encode(t, bos=False))
        chars += len(t)
        nbytes += len(t.encode("utf-8"))
    if not chars:
        raise BabyLlamaError("no text to measure fertility on")
    return {"tokens": tokens, "chars": chars, "bytes": nbytes, "tokens_per_char": tokens / chars,
            "tokens_per_byte": tokens / nbytes}
