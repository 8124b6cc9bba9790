"""Finetune a classifier head (optionally the whole model) with early selection by dev accuracy.

    results = finetune_seeds(backbone, tokenizer, splits, num_labels, FinetuneConfig(mode="head"), seeds=[1, 2, 3])

Inputs are BOS + sentence tokens (no EOS, as minllama's training batches), left-padded with an
attention mask. Training goes through the shared loop core (`babyllama.train.fit`, no run folder): the
objective is `ClassificationObjective`, the data an `EpochBatches` source reshuffled every epoch, and a
callback measures dev accuracy at each epoch end and keeps the best weights. Head-only training computes the
frozen backbone's features once, reuses them for every epoch and seed, and trains only the head.
"""
from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from babyllama.classify.data import Example, left_pad
from babyllama.classify.head import Classifier
from babyllama.classify.stats import accuracy
from babyllama.config import TrainConfig
from babyllama.model import Llama
from babyllama.train import StopOnSignal, fit
from babyllama.train.objectives import Objective
from babyllama.utils.device import seed_everything
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


class EpochBatches:
    """A BatchSource over one split: a fresh seeded order every epoch (bucketed by length for token
    batches), batches of `batch_size` with a smaller last one. `features` given: feature batches,
    else token batches of `seqs` left-padded with `pad_id`."""

    def __init__(self, labels: Sequence[int], batch_size: int, seed: int, *, seqs: Sequence[Sequence[int]] | None = None,
                 features: torch.Tensor | None = None, pad_id: int = 0) -> None:
        self.labels, self.batch_size, self.seed = list(labels), batch_size, seed
        self.seqs, self.features, self.pad_id = seqs, features, pad_id
        self.steps_per_epoch = math.ceil(len(self.labels) / batch_size)
        self.load_state_dict({"epoch": 0, "batch": 0})

    def _order(self) -> list[int]:
        order = list(range(len(self.labels)))
        self.rng.shuffle(order)
        if self.features is None:
            order = bucket_by_length(order, self.seqs, self.batch_size, self.rng)
        return order

    def next_batch(self) -> dict[str, torch.Tensor]:
        if self.batch == self.steps_per_epoch:
            self.epoch, self.batch, self.order = self.epoch + 1, 0, self._order()
        idx = self.order[self.batch * self.batch_size:(self.batch + 1) * self.batch_size]
        self.batch += 1
        if self.features is not None:
            return next(iter(feature_batches(self.features, self.labels, self.batch_size, idx)))
        return next(iter(token_batches(self.seqs, self.labels, self.batch_size, self.pad_id, idx)))

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng = random.Random(self.seed)
        for _ in range(int(state["epoch"]) + 1):  # replay the orders of the epochs before
            self.order = self._order()
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])


class HeadOnly(nn.Module):
    """The trainable part of a head-only Classifier (its dropout and head, shared, not copied): what the
    training loop sees when the batches carry precomputed features."""

    def __init__(self, clf: Classifier) -> None:
        super().__init__()
        self.dropout, self.head = clf.dropout, clf.head

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                features: torch.Tensor | None = None) -> torch.Tensor:
        if features is None:
            raise ValueError("a head-only model takes precomputed features")
        return self.head(self.dropout(features.to(self.head.weight.dtype)))


class EpochStats(ClassificationObjective):
    """ClassificationObjective that also sums training loss and accuracy until `take()` (per epoch)."""

    def __init__(self) -> None:
        self.take()

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        loss, metrics = super().loss(model, batch)
        k = self.num_targets(batch)
        self.sums = [self.sums[0] + loss.item() * k, self.sums[1] + metrics["acc"] * k, self.sums[2] + k]
        return loss, metrics

    def take(self) -> dict[str, float]:
        """Mean loss and accuracy since the last call; resets the sums."""
        loss, acc, n = getattr(self, "sums", (0.0, 0.0, 0))
        self.sums = [0.0, 0.0, 0]
        return {"loss": loss / max(n, 1), "acc": acc / max(n, 1)}


def loop_config(cfg: FinetuneConfig, steps: int, seed: int, device: torch.device, run_dir: str = "") -> TrainConfig:
    """The training-loop config of a finetuning run: minllama AdamW at a constant rate, no warmup,
    fp32, no samples; `run_dir` matters only to `babyllama.train.train` (one checkpoint at the end)."""
    tc = TrainConfig()
    tc.data.batch_size = cfg.batch_size
    o = tc.optim
    o.name, o.lr, o.betas, o.eps, o.weight_decay = "minllama_adamw", cfg.learning_rate, (0.9, 0.999), 1e-6, \
        cfg.weight_decay
    o.grad_clip, o.schedule, o.warmup_steps, o.max_steps, o.min_lr = cfg.grad_clip, "constant", 0, steps, None
    t = tc.train
    t.run_dir, t.seed, t.device, t.precision = run_dir, seed, str(device), "fp32"
    t.eval_every, t.save_every, t.num_samples, t.keep_checkpoints = 0, 0, 0, 1
    t.log_every = max(1, math.ceil(steps / max(cfg.epochs, 1)))  # one metrics line per epoch
    return tc


@dataclass
class FinetuneResult:
    seed: int
    best_epoch: int
    dev_acc: float
    history: list[dict[str, float]]
    predictions: dict[str, list[int]]       # split -> predicted label per example (best epoch)
    seconds: float
    classifier: Classifier | None = field(default=None, repr=False)


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
    objective = EpochStats()
    if full:
        source = EpochBatches(labels["train"], cfg.batch_size, seed, seqs=seqs["train"], pad_id=pad)
    else:
        source = EpochBatches(labels["train"], cfg.batch_size, seed, features=features["train"])
    model: nn.Module = clf if full else HeadOnly(clf)

    def logits_for(split: str) -> torch.Tensor:
        if full:
            return predict_logits(clf, seqs=seqs[split], pad_id=pad, batch_size=cfg.eval_batch_size)
        return predict_logits(clf, features=features[split])

    best: dict[str, Any] = {"acc": -1.0, "epoch": -1, "state": None}
    history: list[dict[str, float]] = []

    def at_epoch_end(step: int, record: dict[str, Any]) -> None:
        if step % source.steps_per_epoch:
            return
        epoch = step // source.steps_per_epoch - 1
        stats = objective.take()
        dev_acc = accuracy(logits_for("dev").argmax(-1).tolist(), labels["dev"])
        model.train()  # predict_logits left it in eval mode
        history.append({"epoch": epoch, "train_loss": stats["loss"], "train_acc": stats["acc"], "dev_acc": dev_acc})
        if log:
            log(f"seed {seed} epoch {epoch}: train loss {stats['loss']:.3f} train acc {stats['acc']:.3f} "
                f"dev acc {dev_acc:.3f}")
        if dev_acc > best["acc"]:
            best.update(acc=dev_acc, epoch=epoch, state={k: v.detach().clone() for k, v in
                                                         (clf.state_dict() if full else clf.head.state_dict()).items()})

    tcfg = loop_config(cfg, cfg.epochs * source.steps_per_epoch, seed, device)
    fit(tcfg, model, objective, source, callbacks=[StopOnSignal("stopping after this step (Ctrl-C again to abort)"),
                                                   at_epoch_end])
    best_acc, best_epoch, best_state = best["acc"], best["epoch"], best["state"]
    if best_state is None:  # stopped (Ctrl-C) before the first epoch ended
        raise BabyLlamaError("finetuning stopped before its first epoch ended; no weights to keep")
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
