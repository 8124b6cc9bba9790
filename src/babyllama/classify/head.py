"""A classifier on top of a Llama: hidden state of the last real token -> dropout -> linear.

    clf = Classifier(backbone, num_labels=5, dropout=0.3, train_backbone=False)   # head only
    logits = clf(input_ids, attention_mask)                                        # (B, 5)

"Last real token" is read from the attention mask, so left and right padding give the same answer
(minllama read the last position, a pad token for short sentences). With train_backbone=False the
backbone is frozen, kept in eval mode (no dropout) and run without autograd; `features()` can then be
computed once and reused, which is exactly equivalent and much faster.
"""
from __future__ import annotations

import torch
from torch import nn

from babyllama.model import Llama


def last_real_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B,) index of the last position whose mask is 1 (works for left or right padding)."""
    T = attention_mask.shape[1]
    pos = torch.arange(T, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), pos, torch.full_like(pos, -1)).amax(-1).clamp(min=0)


class Classifier(nn.Module):
    def __init__(self, backbone: Llama, num_labels: int, dropout: float = 0.3,
                 train_backbone: bool = False) -> None:
        super().__init__()
        if num_labels < 2:
            raise ValueError(f"a classifier needs at least 2 labels, got {num_labels}")
        self.backbone = backbone
        self.num_labels = num_labels
        self.train_backbone = train_backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(backbone.config.dim, num_labels)
        for p in backbone.parameters():
            p.requires_grad_(train_backbone)
        if not train_backbone:
            backbone.eval()

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        if not self.train_backbone:
            self.backbone.eval()  # a frozen backbone never uses dropout
        return self

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, dim) final hidden state at each row's last real token."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        with torch.set_grad_enabled(self.train_backbone and torch.is_grad_enabled()):
            idx = last_real_index(attention_mask)
            start = int(idx.min())  # hidden states from here on (left padding: the last position only)
            # last_only skips the full vocabulary projection
            hidden = self.backbone(input_ids, attention_mask=attention_mask, last_only=True, outputs_from=start).hidden
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx - start]

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features.to(self.head.weight.dtype)))

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, num_labels) from tokens, or from precomputed `features` (head-only training)."""
        if features is None:
            if input_ids is None:
                raise ValueError("give input_ids or features")
            features = self.features(input_ids, attention_mask)
        return self.classify(features)
