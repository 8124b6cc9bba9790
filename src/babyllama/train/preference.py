"""Objectives for chat finetuning: masked cross-entropy (SFT) and preference optimisation (DPO, IPO).

SFT is `objectives.LanguageModeling` on batches whose targets are -100 everywhere but the assistant's
tokens (`data.chat.sft_tensors`): the mean cross-entropy over assistant tokens only.

DPO (Rafailov et al. 2023) compares the policy's and a frozen reference model's log-probabilities of
a chosen and a rejected answer to the same prompt:

    h = (log pi(chosen) - log pi(rejected)) - (log ref(chosen) - log ref(rejected))
    sigmoid:  loss = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)   (eps: label smoothing)
    ipo:      loss = (h - 1 / (2 beta))^2, with log-probabilities averaged over answer tokens

With nll_weight = alpha > 0 the batch loss adds alpha times the mean cross-entropy over the chosen
answers' tokens (an SFT term on the chosen answers, as in RPO, Pang et al. 2024), which keeps the
chosen answers' likelihood from falling while the margin grows.

The reference's log-probabilities are computed once before training (`reference_logps`) and travel in
the batch, so no second model sits in memory during training.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from babyllama.data.chat import IGNORE_INDEX, Rendered, sft_tensors
from babyllama.train.objectives import Objective


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of log-probabilities of the labels that are not -100, their count) per row of (B, T)."""
    keep = labels != IGNORE_INDEX
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * keep).sum(-1), keep.sum(-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1, label_smoothing: float = 0.0,
             loss_type: str = "sigmoid") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair losses and the implicit rewards beta * (log pi - log ref) of chosen and rejected."""
    h = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected)
    if loss_type == "sigmoid":
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown DPO loss {loss_type!r}; choose sigmoid or ipo")
    return losses, beta * (policy_chosen - ref_chosen).detach(), beta * (policy_rejected - ref_rejected).detach()


def pair_tensors(chosen: Sequence[Rendered], rejected: Sequence[Rendered], pad_id: int,
                 ref: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One padded batch of 2B rows, the chosen answers first: input_ids, labels (assistant tokens only)
    and, when given, the reference log-probabilities `ref` (2B,)."""
    x, y = sft_tensors([*chosen, *rejected], pad_id)
    batch = {"input_ids": x, "labels": y}
    if ref is not None:
        batch["ref_logps"] = ref
    return batch


class DPO(Objective):
    """The DPO / IPO loss over a pair batch (see pair_tensors), plus nll_weight times the mean
    cross-entropy of the chosen answers' tokens (RPO; 0 = plain DPO); logs the chosen and rejected
    log-probabilities, that cross-entropy (nll_chosen), the reward margin and the share of pairs whose
    chosen reward is higher."""

    name = "dpo"

    def __init__(self, beta: float = 0.1, label_smoothing: float = 0.0, loss_type: str = "sigmoid",
                 nll_weight: float = 0.0) -> None:
        if loss_type not in ("sigmoid", "ipo"):
            raise ValueError(f"unknown DPO loss {loss_type!r}; choose sigmoid or ipo")
        if nll_weight < 0:
            raise ValueError(f"nll_weight={nll_weight}: must be >= 0")
        self.beta, self.label_smoothing, self.loss_type = beta, label_smoothing, loss_type
        self.nll_weight = nll_weight

    def _logps(self, logps: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        return logps / counts.clamp(min=1) if self.loss_type == "ipo" else logps

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(batch["input_ids"]).logits
        logps, counts = sequence_logps(logits, batch["labels"])
        ref = batch["ref_logps"]
        if self.loss_type == "ipo":  # the reference's sums become means over the same tokens
            ref = ref / counts.clamp(min=1)
        policy = self._logps(logps, counts)
        n = policy.shape[0] // 2
        losses, r_chosen, r_rejected = dpo_loss(policy[:n], policy[n:], ref[:n], ref[n:], self.beta,
                                                self.label_smoothing, self.loss_type)
        nll = -logps[:n].sum() / counts[:n].sum().clamp(min=1)  # mean cross-entropy over chosen tokens
        loss = losses.mean() + self.nll_weight * nll if self.nll_weight else losses.mean()
        logps = logps.detach()
        metrics = {"logp_chosen": float(logps[:n].mean()), "logp_rejected": float(logps[n:].mean()),
                   "reward_margin": float((r_chosen - r_rejected).mean()),
                   "reward_acc": float((r_chosen > r_rejected).float().mean()), "nll_chosen": float(nll.detach())}
        return loss, metrics

    def num_targets(self, batch: Any) -> int:
        return int(batch["input_ids"].shape[0] // 2)


@torch.no_grad()
def reference_logps(model: nn.Module, chosen: Sequence[Rendered], rejected: Sequence[Rendered], pad_id: int,
                    batch_size: int = 16, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probabilities of every chosen and rejected answer under `model` (the reference)."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for rows in (chosen, rejected):
            parts = []
            for i in range(0, len(rows), batch_size):
                x, y = sft_tensors(rows[i:i + batch_size], pad_id)
                parts.append(sequence_logps(model(x.to(device)).logits, y.to(device))[0].cpu())
            out.append(torch.cat(parts))
    finally:
        model.train(was_training)
    return out[0], out[1]
