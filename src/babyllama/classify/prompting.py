"""Zero-shot classification by prompting: score each label by the model's log-probability of its words.

    scores = score_labels(model, tokenizer, texts, ["bad", "good"])   # (N, K) log-probabilities
    preds = scores.argmax(-1)

The default template is the minllama assignment's ("<sentence> Is this movie bad or good? This movie is")
followed by the label. Unlike minllama we read the log-probability of the label at the position right
after the prompt (teacher-forcing every token of a multi-token label), left-pad batches and pass an
attention mask, and shorten the sentence, never the template, when the input is too long.
A label is scored as the continuation " <label>": it is encoded on its own, without BOS, so a
SentencePiece tokenizer gives it its word-initial piece ("▁good").
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from babyllama.classify.data import left_pad
from babyllama.model import KVCache, Llama
from babyllama.utils.io import BabyLlamaError

DEFAULT_TEMPLATE = "{text} Is this movie {labels}? This movie is"
NORMALIZE = ("sum", "mean")


def join_label_names(names: Sequence[str]) -> str:
    """"bad or good"; "awful, bad, average, good, or excellent" (as minllama words the choices)."""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} or {names[1]}"
    return ", ".join(names[:-1]) + ", or " + names[-1]


def render(template: str, text: str, names: Sequence[str]) -> str:
    """Fill {text} and {labels} in the template."""
    if "{text}" not in template:
        raise BabyLlamaError(f"prompt template {template!r} has no {{text}} placeholder")
    try:
        return template.format(text=text, labels=join_label_names(names))
    except (KeyError, IndexError, ValueError) as e:
        raise BabyLlamaError(f"prompt template {template!r}: bad placeholder ({e}); use only {{text}} and "
                             f"{{labels}}, and double literal braces as {{{{ }}}}") from None


def label_token_ids(tokenizer, names: Sequence[str]) -> list[list[int]]:
    ids = [tokenizer.encode(n, bos=False, eos=False) for n in names]
    for n, t in zip(names, ids):
        if not t:
            raise BabyLlamaError(f"label name {n!r} encodes to no tokens")
    return ids


def build_context(tokenizer, text: str, names: Sequence[str], template: str = DEFAULT_TEMPLATE,
                  max_text_tokens: int | None = None, limit: int | None = None) -> list[int]:
    """BOS + the rendered prompt. The sentence is cut to max_text_tokens tokens, and further if the
    whole prompt is longer than `limit` tokens; the template itself is never cut."""
    pieces = tokenizer.encode(text, bos=False, eos=False)
    keep = len(pieces) if max_text_tokens is None else min(len(pieces), max_text_tokens)
    while True:
        cut = text if keep == len(pieces) else tokenizer.decode(pieces[:keep])
        ids = tokenizer.encode(render(template, cut, names), bos=True, eos=False)
        if limit is None or len(ids) <= limit:
            return ids
        if keep == 0:
            raise BabyLlamaError(f"the prompt template alone needs {len(ids)} tokens but the model allows "
                                 f"{limit} (its max_seq_len minus the longest label); use a shorter template")
        keep = max(0, keep - (len(ids) - limit))


@torch.no_grad()
def score_batch(model: Llama, contexts: Sequence[Sequence[int]], labels: Sequence[Sequence[int]],
                pad_id: int, normalize: str = "sum") -> torch.Tensor:
    """(B, K) log p(label k | context b), summed over the label's tokens or their mean.

    One forward pass over the left-padded contexts fills a KV cache; for multi-token labels the cache
    is repeated K times and all labels are teacher-forced in a second pass."""
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    device = next(model.parameters()).device
    ids, mask = left_pad(contexts, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    B, T = ids.shape
    K, L = len(labels), max(len(lab) for lab in labels)
    cache = KVCache(model.config, B, max_len=T + L, device=device,
                    dtype=next(model.parameters()).dtype)
    out = model(ids, attention_mask=mask, kv_cache=cache, last_only=True, outputs_from=T - 1)
    first = F.log_softmax(out.logits[:, -1], -1)
    lab = torch.full((K, L), pad_id, dtype=torch.long, device=device)
    for k, t in enumerate(labels):
        lab[k, :len(t)] = torch.tensor(list(t), device=device)
    scores = first[:, lab[:, 0]]  # (B, K)
    if L > 1:
        cache.reorder(torch.arange(B, device=device).repeat_interleave(K))
        inp = lab[:, :L - 1].repeat(B, 1)  # row b*K + k holds label k
        full_mask = torch.cat([mask.repeat_interleave(K, 0), torch.ones_like(inp)], dim=1)
        logp = F.log_softmax(model(inp, attention_mask=full_mask, kv_cache=cache).logits, -1)
        target = lab[:, 1:].repeat(B, 1)
        lengths = torch.tensor([len(t) for t in labels], device=device)
        valid = (torch.arange(1, L, device=device)[None, :] < lengths[:, None]).repeat(B, 1)
        rest = (logp.gather(-1, target[..., None])[..., 0] * valid).sum(-1)
        scores = scores + rest.view(B, K)
    if normalize == "mean":
        scores = scores / torch.tensor([len(t) for t in labels], device=device, dtype=scores.dtype)
    return scores.float().cpu()


@torch.no_grad()
def score_labels(model: Llama, tokenizer, texts: Sequence[str], label_names: Sequence[str],
                 template: str = DEFAULT_TEMPLATE, normalize: str = "sum", batch_size: int = 16,
                 max_text_tokens: int | None = None) -> torch.Tensor:
    """(N, K) label scores for every text; the prediction is the argmax over K.

    Texts are batched in order of length (less padding); results come back in input order."""
    if batch_size < 1:
        raise BabyLlamaError(f"batch size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    labels = label_token_ids(tokenizer, label_names)
    limit = model.config.max_seq_len - max(len(t) for t in labels)
    contexts = [build_context(tokenizer, t, label_names, template, max_text_tokens, limit) for t in texts]
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]))
    out = torch.empty(len(contexts), len(labels))
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        out[idx] = score_batch(model, [contexts[i] for i in idx], labels, tokenizer.pad_id, normalize)
    model.train(was_training)
    return out
