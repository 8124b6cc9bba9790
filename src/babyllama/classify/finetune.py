"""Finetune a classifier head (optionally the whole model) with early selection by dev accuracy.

    results = finetune_seeds(backbone, tokenizer, splits, num_labels, FinetuneConfig(mode="head"), seeds=[1, 2, 3])

Inputs are BOS + sentence tokens (no EOS, as minllama's training batches), left-padded with an
attention mask. The loss is `ClassificationObjective`, a training-loop objective; `train_epoch` is the
small function boundary where the shared training loop plugs in (see its docstring). Head-only
training computes the frozen backbone's features once and reuses them for every epoch and seed.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from babyllama.classify.data import Example, left_pad
from babyllama.classify.head import Classifier
from babyllama.model import Llama
from babyllama.train.objectives import Objective
from babyllama.train.optim import AdamW
from babyllama.utils.io import BabyLlamaError

MODES = ("head", "full")
DEFAULT_LR = {"head": 1e-3, "full": 2e-5}


@dataclass
class FinetuneConfig:
    mode: str = "head"              # "head": train the head only; "full": the whole model
    epochs: int = 5
    lr: float | None = None         # None: DEFAULT_LR[mode]
    batch_size: int = 8
    eval_batch_size: int = 32
    dropout: float = 0.3
    max_text_tokens: int | None = None  # cut sentences to their first N tokens (minllama's max_sentence_len)
    weight_decay: float = 0.0
    grad_clip: float = 0.0          # 0 = none (minllama clips nothing)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BabyLlamaError(f"finetuning mode must be one of {MODES}, got {self.mode!r}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise BabyLlamaError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise BabyLlamaError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lr is not None and self.lr <= 0:
            raise BabyLlamaError(f"lr must be > 0, got {self.lr}")

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.mode] if self.lr is None else self.lr


class ClassificationObjective(Objective):
    """Mean cross-entropy of the classifier's logits. Batch: dict with labels and either
    input_ids + attention_mask or precomputed features."""

    name = "classify"

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(batch.get("input_ids"), batch.get("attention_mask"), features=batch.get("features"))
        loss = F.cross_entropy(logits.float(), batch["labels"])
        acc = (logits.argmax(-1) == batch["labels"]).float().mean().item()
        return loss, {"acc": acc}

    def num_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        if "attention_mask" in batch:
            return int(batch["attention_mask"].sum())
        return int(batch["labels"].numel())

    def num_targets(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["labels"].numel())


def encode_texts(tokenizer, texts: Sequence[str], max_text_tokens: int | None, limit: int) -> list[list[int]]:
    """BOS + the first min(max_text_tokens, limit - 1) tokens of each text."""
    keep = limit - 1 if max_text_tokens is None else min(max_text_tokens, limit - 1)
    return [[tokenizer.bos_id] + tokenizer.encode(t, bos=False, eos=False)[:keep] for t in texts]


def token_batches(seqs: Sequence[Sequence[int]], labels: Sequence[int], batch_size: int, pad_id: int,
                  order: Sequence[int]) -> Iterable[dict[str, torch.Tensor]]:
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, mask = left_pad([seqs[i] for i in idx], pad_id)
        yield {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([labels[i] for i in idx])}


def feature_batches(features: torch.Tensor, labels: Sequence[int], batch_size: int,
                    order: Sequence[int]) -> Iterable[dict[str, torch.Tensor]]:
    lab = torch.tensor(list(labels))
    for s in range(0, len(order), batch_size):
        idx = torch.tensor(list(order[s:s + batch_size]))
        yield {"features": features[idx], "labels": lab[idx]}


def bucket_by_length(order: list[int], seqs: Sequence[Sequence[int]], batch_size: int,
                     rng: random.Random, pool: int = 50) -> list[int]:
    """Reorder a shuffled `order` so each batch holds sentences of similar length (less padding):
    sort chunks of pool*batch_size by length, cut them into batches, shuffle the batches."""
    batches = []
    for s in range(0, len(order), pool * batch_size):
        chunk = sorted(order[s:s + pool * batch_size], key=lambda i: len(seqs[i]))
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return [i for b in batches for i in b]


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def by_length(seqs: Sequence[Sequence[int]]) -> list[int]:
    return sorted(range(len(seqs)), key=lambda i: len(seqs[i]))


@torch.no_grad()
def compute_features(clf: Classifier, seqs: Sequence[Sequence[int]], pad_id: int, batch_size: int) -> torch.Tensor:
    """(N, dim) last-real-token hidden states, in input order (batched by length)."""
    clf.eval()
    device = clf.head.weight.device
    out = torch.empty(len(seqs), clf.backbone.config.dim)
    order = by_length(seqs)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, mask = left_pad([seqs[i] for i in idx], pad_id)
        out[idx] = clf.features(ids.to(device), mask.to(device)).float().cpu()
    return out


@torch.no_grad()
def predict_logits(clf: Classifier, *, seqs: Sequence[Sequence[int]] | None = None,
                   features: torch.Tensor | None = None, pad_id: int = 0, batch_size: int = 32) -> torch.Tensor:
    """(N, K) logits in input order, from token lists or precomputed features."""
    clf.eval()
    device = clf.head.weight.device
    if features is not None:
        return clf(features=features.to(device)).float().cpu()
    assert seqs is not None
    out = torch.empty(len(seqs), clf.num_labels)
    order = by_length(seqs)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        ids, mask = left_pad([seqs[i] for i in idx], pad_id)
        out[idx] = clf(ids.to(device), mask.to(device)).float().cpu()
    return out


def train_epoch(model: nn.Module, objective: Objective, batches: Iterable[Any], optimizer: torch.optim.Optimizer,
                grad_clip: float = 0.0) -> dict[str, float]:
    """One pass over `batches`: loss, backward, (clip), step. Returns mean loss and accuracy.

    This is the function boundary where `babyllama.train.loop.train` plugs in. The loop already takes
    train_data (any BatchSource), an objective, callbacks (dev accuracy at epoch ends) and optimizer
    "minllama_adamw" with a constant schedule; what it lacks is checkpointing a model that is not a
    Llama (it calls save_model on the Classifier), so this small loop stands in until it can."""
    model.train()
    device = next(p for p in model.parameters()).device
    total_loss, total_acc, n = 0.0, 0.0, 0
    for batch in batches:
        batch = _to(batch, device)
        loss, metrics = objective.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], grad_clip)
        optimizer.step()
        k = objective.num_targets(batch)
        total_loss += loss.item() * k
        total_acc += metrics["acc"] * k
        n += k
    return {"loss": total_loss / max(n, 1), "acc": total_acc / max(n, 1)}


@dataclass
class FinetuneResult:
    seed: int
    best_epoch: int
    dev_acc: float
    history: list[dict[str, float]]
    predictions: dict[str, list[int]]       # split -> predicted label per example (best epoch)
    seconds: float
    classifier: Classifier | None = field(default=None, repr=False)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _accuracy(logits: torch.Tensor, labels: Sequence[int]) -> float:
    return float((logits.argmax(-1) == torch.tensor(list(labels))).float().mean())


def finetune(backbone: Llama, tokenizer, splits: dict[str, Sequence[Example]], num_labels: int,
             cfg: FinetuneConfig, seed: int = 1337, features: dict[str, torch.Tensor] | None = None,
             log: Callable[[str], None] | None = print, keep_model: bool = False) -> FinetuneResult:
    """Train on splits["train"], pick the epoch with the best splits["dev"] accuracy, predict every split.

    mode "full" trains a deep copy of `backbone` (the caller's model is not changed). In mode "head"
    `features` (from `compute_split_features`) may be passed to share them between seeds."""
    for need in ("train", "dev"):
        if need not in splits or not splits[need]:
            raise BabyLlamaError(f"finetuning needs a non-empty {need!r} split")
    t0 = time.time()
    seed_everything(seed)
    full = cfg.mode == "full"
    device = next(backbone.parameters()).device
    clf = Classifier(copy.deepcopy(backbone) if full else backbone, num_labels, cfg.dropout,
                     train_backbone=full).to(device)
    pad = tokenizer.pad_id
    limit = backbone.config.max_seq_len
    seqs = {k: encode_texts(tokenizer, [e.text for e in v], cfg.max_text_tokens, limit) for k, v in splits.items()}
    labels = {k: [e.label for e in v] for k, v in splits.items()}
    if not full and features is None:
        features = {k: compute_features(clf, s, pad, cfg.eval_batch_size) for k, s in seqs.items()}
    params = [p for p in clf.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, flavour="minllama")
    objective = ClassificationObjective()
    rng = random.Random(seed)

    def logits_for(split: str) -> torch.Tensor:
        if full:
            return predict_logits(clf, seqs=seqs[split], pad_id=pad, batch_size=cfg.eval_batch_size)
        return predict_logits(clf, features=features[split])

    best_acc, best_epoch, best_state, history = -1.0, -1, None, []
    for epoch in range(cfg.epochs):
        order = list(range(len(labels["train"])))
        rng.shuffle(order)
        if full:
            order = bucket_by_length(order, seqs["train"], cfg.batch_size, rng)
        if full:
            batches = token_batches(seqs["train"], labels["train"], cfg.batch_size, pad, order)
        else:
            batches = feature_batches(features["train"], labels["train"], cfg.batch_size, order)
        stats = train_epoch(clf, objective, batches, optimizer, cfg.grad_clip)
        dev_acc = _accuracy(logits_for("dev"), labels["dev"])
        history.append({"epoch": epoch, "train_loss": stats["loss"], "train_acc": stats["acc"], "dev_acc": dev_acc})
        if log:
            log(f"seed {seed} epoch {epoch}: train loss {stats['loss']:.3f} train acc {stats['acc']:.3f} "
                f"dev acc {dev_acc:.3f}")
        if dev_acc > best_acc:
            best_acc, best_epoch = dev_acc, epoch
            best_state = {k: v.detach().clone() for k, v in
                          (clf.state_dict() if full else clf.head.state_dict()).items()}
    (clf if full else clf.head).load_state_dict(best_state)
    preds = {k: logits_for(k).argmax(-1).tolist() for k in splits}
    return FinetuneResult(seed, best_epoch, best_acc, history, preds, time.time() - t0,
                          clf if keep_model else None)


def compute_split_features(backbone: Llama, tokenizer, splits: dict[str, Sequence[Example]],
                           cfg: FinetuneConfig) -> dict[str, torch.Tensor]:
    """Frozen-backbone features of every split, to share between head-only runs."""
    probe = Classifier(backbone, 2, 0.0, train_backbone=False).to(next(backbone.parameters()).device)
    limit = backbone.config.max_seq_len
    return {k: compute_features(probe, encode_texts(tokenizer, [e.text for e in v], cfg.max_text_tokens, limit),
                                tokenizer.pad_id, cfg.eval_batch_size) for k, v in splits.items()}


def finetune_seeds(backbone: Llama, tokenizer, splits: dict[str, Sequence[Example]], num_labels: int,
                   cfg: FinetuneConfig, seeds: Sequence[int], log: Callable[[str], None] | None = print
                   ) -> list[FinetuneResult]:
    """finetune() once per seed; head-only runs share one pass of feature extraction."""
    features = compute_split_features(backbone, tokenizer, splits, cfg) if cfg.mode == "head" else None
    return [finetune(backbone, tokenizer, splits, num_labels, cfg, seed=s, features=features, log=log)
            for s in seeds]
