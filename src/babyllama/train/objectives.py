"""What the training loop minimises. The loop is the same for every task; only the objective changes.

An objective turns a batch into (loss, metrics). Pretraining is next-token cross-entropy; SFT is the
same with prompt tokens set to -100 in the targets; DPO and classification define their own loss.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from babyllama.data.chat import IGNORE_INDEX
from babyllama.model import Llama, unwrap_model


class Objective:
    """Subclass and implement `loss`. `batch` is whatever the batch source yields, already on the device."""

    name = "objective"

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def num_tokens(self, batch: Any) -> int:
        """Tokens processed by one batch (for tokens/s and MFU)."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch["input_ids"]
        return int(x.numel())

    def num_targets(self, batch: Any) -> int:
        """Weight of this batch when averaging the validation loss over batches."""
        y = batch[1] if isinstance(batch, (tuple, list)) else batch.get("labels")
        return int((y != IGNORE_INDEX).sum()) if y is not None else self.num_tokens(batch)


class LanguageModeling(Objective):
    """Mean next-token cross-entropy over targets that are not -100. Batch: (x, y) of shape (B, T)."""

    name = "lm"

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch[0], batch[1]
        if isinstance(unwrap_model(model), Llama):  # the loss made chunk by chunk, without the logits
            return model(x, targets=y).loss, {}
        logits = model(x).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                               ignore_index=IGNORE_INDEX)
        return loss, {}
