"""Lower-precision inference: weight-only bf16 or int8 matrices, everything else in float32.

    to_precision(model, "int8")      # in place; babyllama.loading.load(path, dtype="int8") does this
    model_precision(model)           # "fp32", "bf16" or "int8"
    precision_step(model)            # the one-token step generate() uses for such a model

Every nn.Linear of the layers and the output layer becomes a `LowPrecisionLinear`: bf16 keeps the
weight rounded to bfloat16; int8 keeps symmetric per-output-channel int8 weights, w ~ q * scale with
scale = max|row| / 127 (rounded up to a bfloat16 value, so the kernel's bf16 scales are exact). The
matmul's input is rounded to bfloat16 and it accumulates in float32 (torch's int8 weight-only kernel
`aten._weight_int8pack_mm` on CPU, oneDNN's prepacked bf16 matmul for decoding); embeddings, norms,
rotary embeddings, attention, the KV cache and the residual stream stay float32. Forward passes
(prefill, perplexity) and the decoding step compute the same products, so perplexity measures what
generation uses. Models converted this way are for inference: training and saving them is not supported.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from babyllama.decode.settings import SettingError
from babyllama.model import DecodeStep, Llama

DTYPES = ("fp32", "bf16", "int8")


def check_dtype(dtype: str, flag: str = "dtype") -> str:
    """`dtype` if it is one of DTYPES, else a one-line SettingError naming `flag`."""
    if dtype not in DTYPES:
        raise SettingError(f"{flag} {dtype!r}: unknown inference precision; use one of {', '.join(DTYPES)}")
    return dtype


def _int8_kernel_fits(x: torch.Tensor, q: torch.Tensor) -> bool:
    # the CPU kernel crashed on inner sizes that are not a multiple of 8 (torch 2.13): 16 to be safe
    return x.device.type == "cpu" and q.shape[1] % 16 == 0 and hasattr(torch.ops.aten, "_weight_int8pack_mm")


def int8_matmul(x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (M, K) bfloat16 times (q * scale).T for q (N, K) int8 and scale (N,) bfloat16: (M, N) bfloat16."""
    if _int8_kernel_fits(x, q):
        return torch.ops.aten._weight_int8pack_mm(x, q, scale)
    return F.linear(x.float(), q.float() * scale.float()[:, None]).to(x.dtype)  # float32 products, as the kernel


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: (q int8 (N, K), scale float32 (N,) holding bfloat16 values), w ~ q * scale."""
    w = w.detach().float()
    scale = (w.abs().amax(1) / 127).clamp(min=1e-12)
    scale = (scale * (1 + 2 ** -8)).bfloat16().float()  # rounded up to bf16: |w| / scale <= 127
    q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, scale


class LowPrecisionLinear(nn.Module):
    """A bias-free linear layer with bf16 or int8 weights: x (float) -> float32 products."""

    def __init__(self, linear: nn.Linear, kind: str) -> None:
        super().__init__()
        if kind not in ("bf16", "int8"):
            raise ValueError(f"kind must be bf16 or int8, got {kind!r}")
        self.kind = kind
        self.in_features, self.out_features = linear.in_features, linear.out_features
        w = linear.weight.detach()
        if kind == "bf16":
            self.register_buffer("weight", w.to(torch.bfloat16))
            self.scale = None
        else:
            q, scale = quantize_int8(w)
            self.register_buffer("weight", q)
            self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        xb = x.reshape(-1, shape[-1]).to(torch.bfloat16)
        if self.kind == "bf16":
            y = F.linear(xb, self.weight)
        else:
            y = int8_matmul(xb, self.weight, self.scale.to(torch.bfloat16))
        return y.float().view(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, kind={self.kind}"


def to_precision(model: Llama, dtype: str) -> Llama:
    """Convert `model` in place to weight-only `dtype` (fp32: unchanged); returns it."""
    check_dtype(dtype)
    if dtype == "fp32":
        return model
    if model_precision(model) != "fp32":
        raise SettingError(f"the model already has {model_precision(model)} weights; load it again for {dtype}")
    if model.tok_embeddings.weight.dtype != torch.float32:
        model.float()
    for blk in model.layers:
        for parent in (blk.attention, blk.feed_forward):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(parent, name, LowPrecisionLinear(child, dtype))
    model.output = LowPrecisionLinear(model.output, dtype)  # a tied embedding stays float32 for lookups
    return model.eval()


def model_precision(model: nn.Module) -> str:
    """fp32 (any float model), bf16 or int8 (converted by `to_precision`)."""
    out = getattr(model, "output", None)
    return out.kind if isinstance(out, LowPrecisionLinear) else "fp32"


class _Packed:
    """One decoding matrix: weight (N, K) for the kernel, the input scale (a norm weight) applied to
    x first and the per-output scale (q's 1/sqrt(head_dim)) applied to the product."""

    def __init__(self, kind: str, weight: torch.Tensor, scale: torch.Tensor | None,
                 in_scale: torch.Tensor | None, out_scale: torch.Tensor | None) -> None:
        self.kind, self.in_scale, self.out_scale = kind, in_scale, out_scale
        self.scale = None if scale is None else scale.to(torch.bfloat16)
        self.weight, self.packed = weight, None
        if kind == "bf16" and weight.device.type == "cpu" and torch.backends.mkldnn.is_available():
            try:  # oneDNN's prepacked layout: ~4x faster than F.linear for one bf16 row (measured)
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1)
            except (RuntimeError, AttributeError):
                self.packed = None

    def product(self, x: torch.Tensor) -> torch.Tensor:
        """The bfloat16 product of the scaled input (without the output scale)."""
        xb = (x if self.in_scale is None else x * self.in_scale).to(torch.bfloat16)
        if self.kind == "int8":
            return int8_matmul(xb, self.weight, self.scale)
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(xb, self.packed, None, "none", [], "")
        return F.linear(xb, self.weight)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.product(x)
        return y.float() if self.out_scale is None else y * self.out_scale  # bf16 * float32 -> float32

    def tensors(self) -> list[torch.Tensor]:
        return [self.weight] + ([self.scale] if self.scale is not None else [])


class PrecisionStep(DecodeStep):
    """`DecodeStep` over LowPrecisionLinear weights: the same fused matrices (q/k/v, w1/w3), with the
    norm weights and the query scale applied to vectors instead of folded into the low-precision values."""

    def _matrix(self, linears, in_scale=None, out_scales=None) -> _Packed:  # type: ignore[override]
        kind = linears[0].kind
        weight = torch.cat([m.weight for m in linears])
        scale = None if kind == "bf16" else torch.cat([m.scale for m in linears])
        out = None
        if out_scales is not None and any(c != 1 for c in out_scales):
            out = torch.cat([torch.full((m.out_features,), float(c), device=weight.device)
                             for m, c in zip(linears, out_scales)])
        return _Packed(kind, weight, scale, None if in_scale is None else in_scale.detach().float(), out)

    def _mm(self, x: torch.Tensor, m: _Packed) -> torch.Tensor:  # type: ignore[override]
        return m(x)

    def _mm_add(self, acc: torch.Tensor, x: torch.Tensor, m: _Packed) -> torch.Tensor:  # type: ignore[override]
        return acc + (m.product(x) if m.out_scale is None else m(x))  # float32 + bf16 -> float32

    def weights(self) -> list[torch.Tensor]:
        return [t for layer in self.layers for m in layer for t in m.tensors()] + self.out_t.tensors()


def precision_step(model: Llama) -> DecodeStep:
    """The model's decoding step: `Llama.decoder()` for float models, a PrecisionStep for bf16/int8."""
    return model.decoder(PrecisionStep if model_precision(model) != "fp32" else None)
