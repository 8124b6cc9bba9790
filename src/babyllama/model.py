"""Llama-2 from scratch: RMSNorm, rotary embeddings, grouped-query attention, SwiGLU, KV cache.

Parameter names follow llama2.c (tok_embeddings, layers.N.attention.wq, feed_forward.w1, ...), and
rotary embeddings rotate adjacent pairs (x[2i], x[2i+1]) as Meta's Llama and llama2.c do.
`Llama.forward` serves training, prompts and scoring; `Llama.decode_step` is the same maths for one
new token per row on a KV cache, on a fused copy of the weights (tested against `forward`).
This module knows nothing about data, training or other projects' file formats.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LlamaConfig:
    dim: int = 288
    n_layers: int = 6
    n_heads: int = 6
    n_kv_heads: int | None = None  # None: same as n_heads (no grouping)
    vocab_size: int = 32000
    hidden_dim: int | None = None  # None: llama2.c's rule from dim and multiple_of
    multiple_of: int = 32
    norm_eps: float = 1e-5
    max_seq_len: int = 256
    dropout: float = 0.0
    tie_embeddings: bool = True
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.hidden_dim is None:
            hidden = int(2 * (4 * self.dim) / 3)
            self.hidden_dim = self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)
        problems = []
        for name in ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "hidden_dim", "max_seq_len"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if self.dim % self.n_heads:
            problems.append(f"dim ({self.dim}) must be divisible by n_heads ({self.n_heads})")
        elif (self.dim // self.n_heads) % 2:
            problems.append(f"head size dim/n_heads = {self.dim // self.n_heads} must be even for rotary embeddings")
        if self.n_kv_heads > 0 and self.n_heads % self.n_kv_heads:
            problems.append(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LlamaConfig":
        """A config from saved values; an unknown key or a value of the wrong type is a ValueError naming it."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; allowed: {sorted(known)}")
        for name, value in d.items():
            if not _fits(value, known[name]):
                raise ValueError(f"model config field {name!r} must be {known[name]}, got {value!r}")
        return cls(**d)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count, computed from the shapes (equals sum(p.numel()) of the model)."""
        d, h, L, v = self.dim, self.hidden_dim, self.n_layers, self.vocab_size
        kv = self.n_kv_heads * self.head_dim
        per_layer = d * d * 2 + d * kv * 2 + 3 * d * h + 2 * d  # wq, wo, wk, wv, w1/w2/w3, 2 norms
        embed = v * d
        out = 0 if self.tie_embeddings else v * d
        total = embed + L * per_layer + d + out
        return total - embed if non_embedding else total

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token (forward + backward = 3x forward), PaLM appendix B style:
        6 * (non-embedding params + output matmul) + 12 * n_layers * dim * seq_len for attention."""
        T = seq_len or self.max_seq_len
        matmul_params = self.num_params(non_embedding=True) + self.vocab_size * self.dim
        return 6 * matmul_params + 12 * self.n_layers * self.dim * T


def _fits(value: object, kind: str) -> bool:
    """Whether a config value has the field's type ("int", "int | None", "float" or "bool")."""
    if kind == "bool" or isinstance(value, bool):
        return kind == "bool" and isinstance(value, bool)
    if value is None:
        return "None" in kind
    return isinstance(value, int) or (kind == "float" and isinstance(value, float))


def unwrap_model(module: nn.Module) -> "Llama":
    """The model inside DistributedDataParallel and torch.compile wrappers (the module itself if unwrapped)."""
    module = getattr(module, "module", module)
    return getattr(module, "_orig_mod", module)


@torch.no_grad()
def resize_vocab(model: "Llama", new_size: int, init_rows=None) -> "Llama":
    """Grow the model's vocabulary to `new_size` rows in place (tied or untied); returns the model.

    Rows 0..V-1 of the embedding and output matrices are kept exactly. `init_rows` sets the new rows
    V..new_size-1: a list with one entry per new row, each a list of old ids whose rows are averaged
    (in each matrix separately, so untied output rows average output rows), an empty entry meaning the
    mean of all old rows; or a (new_size - V, dim) tensor used for both matrices; None: every new row
    is the mean of all old rows.
    """
    old = model.config.vocab_size
    n_new = new_size - old
    if n_new < 0:
        raise ValueError(f"resize_vocab only grows the vocabulary: {new_size} < {old}")
    if isinstance(init_rows, torch.Tensor) and tuple(init_rows.shape) != (n_new, model.config.dim):
        raise ValueError(f"init_rows must have shape ({n_new}, {model.config.dim}), got {tuple(init_rows.shape)}")
    if init_rows is not None and not isinstance(init_rows, torch.Tensor) and len(init_rows) != n_new:
        raise ValueError(f"init_rows must have one entry per new row ({n_new}), got {len(init_rows)}")

    def grown(weight: torch.Tensor) -> torch.Tensor:
        if isinstance(init_rows, torch.Tensor):
            rows = init_rows.to(weight)
        else:
            mean = weight.mean(0)
            rows = torch.stack([weight[list(ids)].mean(0) if ids else mean
                                for ids in (init_rows or [()] * n_new)]) if n_new else weight[:0]
        return torch.cat([weight, rows])

    emb = model.tok_embeddings.weight
    model.tok_embeddings = nn.Embedding(new_size, model.config.dim, device=emb.device, dtype=emb.dtype)
    model.tok_embeddings.weight.copy_(grown(emb))
    out = model.output.weight
    model.output = nn.Linear(model.config.dim, new_size, bias=False, device=out.device, dtype=out.dtype)
    if model.config.tie_embeddings:
        model.output.weight = model.tok_embeddings.weight
    else:
        model.output.weight.copy_(grown(out))
    model.config.vocab_size = new_size
    return model


class ModelOutput(NamedTuple):
    logits: torch.Tensor | None  # (B, T, vocab) float32; None when forward was given targets
    hidden: torch.Tensor  # (B, T, dim) final hidden states after the last norm
    loss: torch.Tensor | None = None  # mean cross-entropy over the targets that are not IGNORE_INDEX


IGNORE_INDEX = -100  # a target that adds nothing to the loss (prompt tokens, padding); data.chat re-exports it
CE_CHUNK_ELEMENTS = 2 ** 24  # logits held at once by linear_cross_entropy: 64 MB in fp32 (2^21 was slower)


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of h @ weight.T against targets, a chunk of rows at a time. The gradients
    (softmax - one-hot, times the inputs) are made in the same pass, while each chunk of logits is
    in cache, and kept for backward: the (N, vocab) logits, their log-softmax and its gradient are
    never held whole. Same value as F.cross_entropy(h @ weight.T, targets, ignore_index=IGNORE_INDEX)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        h2, t = h.reshape(-1, h.shape[-1]), targets.reshape(-1)
        keep = t != IGNORE_INDEX
        n = keep.sum().clamp(min=1)
        grads = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        acc = torch.promote_types(weight.dtype, torch.float32)  # float32, or float64 for a float64 model
        dh = torch.empty(h2.shape, dtype=acc, device=h.device) if grads else None
        dw = torch.zeros(weight.shape, dtype=acc, device=h.device) if grads else None
        total = torch.zeros((), dtype=acc, device=h.device)
        rows = max(1, CE_CHUNK_ELEMENTS // weight.shape[0])
        for s in range(0, h2.shape[0], rows):
            hc, tc, kc = h2[s:s + rows], t[s:s + rows].clamp(min=0), keep[s:s + rows].to(acc)
            logits = (hc @ weight.t()).to(acc)
            lse = torch.logsumexp(logits, -1)
            total += ((lse - logits.gather(1, tc[:, None]).squeeze(1)) * kc).sum()
            if grads:
                g = logits.sub_(lse[:, None]).exp_()  # softmax, in place
                g[torch.arange(len(tc), device=h.device), tc] -= kc
                g = g.mul_((kc / n)[:, None]).to(weight.dtype)
                dh[s:s + rows] = g @ weight
                if g.dtype == hc.dtype == acc:
                    dw.addmm_(g.t(), hc)
                else:  # bf16 autocast: the product in bf16, summed in fp32
                    dw += (g.t() @ hc).to(acc)
        ctx.save_for_backward(dh, dw)
        ctx.dtypes = (h.dtype, weight.dtype, h.shape)
        return total / n

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        dh, dw = ctx.saved_tensors
        h_dtype, w_dtype, shape = ctx.dtypes
        return (dh * grad).to(h_dtype).view(shape), (dw * grad).to(w_dtype), None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """F.cross_entropy(h @ weight.T, targets, ignore_index=IGNORE_INDEX) without holding the logits (see
    _LinearCrossEntropy); h (..., dim), weight (vocab, dim), targets (...) of token ids or IGNORE_INDEX."""
    return _LinearCrossEntropy.apply(h, weight, targets)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rope_cos_sin(head_dim: int, positions: torch.Tensor, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of angle pos * theta^(-2i/head_dim), shape positions.shape + (head_dim/2,)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim))
    angles = positions.float().unsqueeze(-1) * inv_freq
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs of x (B, T, H, D) by the angles in cos/sin ((T, D/2) or (B, T, D/2))."""
    if cos.dim() == 2:
        cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    else:
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    # adjacent pairs as complex numbers, rotated by e^{i angle}
    xc = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(xc * torch.complex(cos, sin)).flatten(-2).type_as(x)


CPU_QUERY_BLOCK = 64


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0,
                     enable_gqa: bool = False) -> torch.Tensor:
    """Causal attention of q (B, H, Tq, D) over k, v (B, Hkv, S, D), the queries being the last Tq of
    the S positions (S > Tq after a KV cache or when only later positions need outputs).

    On CPU, torch's fused kernel does nearly the full Tq x S work even above the diagonal, so
    queries go in blocks of CPU_QUERY_BLOCK, each against the keys up to its own end: the same
    result, 15-30% less attention time at T = 256-512 for small heads (measured; training too, where
    it is used for head_dim <= 16 only, the size it helps)."""
    Tq, S = q.shape[2], k.shape[2]
    off = S - Tq

    def sdpa(qs: torch.Tensor, end: int, first: int) -> torch.Tensor:
        """Queries at positions first.. (relative to the key axis) against keys 0..end-1."""
        ks, vs = (k, v) if end == S else (k[:, :, :end], v[:, :, :end])
        if first == 0 and qs.shape[2] == end:
            return F.scaled_dot_product_attention(qs, ks, vs, dropout_p=dropout_p, is_causal=True,
                                                  enable_gqa=enable_gqa)
        if qs.shape[2] == 1:  # a single query sees every key
            return F.scaled_dot_product_attention(qs, ks, vs, dropout_p=dropout_p, enable_gqa=enable_gqa)
        mask = torch.ones(qs.shape[2], end, dtype=torch.bool, device=q.device).tril(first)
        return F.scaled_dot_product_attention(qs, ks, vs, attn_mask=mask, dropout_p=dropout_p, enable_gqa=enable_gqa)

    block = CPU_QUERY_BLOCK
    if q.device.type != "cpu" or Tq <= block or (q.requires_grad and q.shape[-1] > 16):
        return sdpa(q, S, off)
    B, H, _, D = q.shape
    out = q.new_empty(B, Tq, H, D)  # (B, T, H, D) as the caller wants it next: no copy after the blocks
    for s in range(0, Tq, block):
        out[:, s:s + block] = sdpa(q[:, :, s:s + block], off + min(s + block, Tq), off + s).transpose(1, 2)
    return out.transpose(1, 2)


class KVCache:
    """Preallocated keys/values for every layer: (B, n_kv_heads, max_len, head_dim).

    `length` is the number of positions already stored. A model forward with the cache appends
    its new keys/values and advances `length` once all layers have written.
    """

    def __init__(self, config: LlamaConfig, batch_size: int, max_len: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        self.max_len = max_len or config.max_seq_len
        shape = (config.n_layers, batch_size, config.n_kv_heads, self.max_len, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H_kv, T, D) after the cached positions; return all keys/values so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} positions needed, cache holds {self.max_len}")
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        """Select batch rows (beam search): row i becomes old row index[i]. `index` may repeat rows
        and change the batch size; with the size unchanged only the filled positions are copied."""
        if index.numel() == self.k.shape[1]:
            L = self.length
            self.k[:, :, :, :L] = self.k[:, :, :, :L].index_select(1, index)
            self.v[:, :, :, :L] = self.v[:, :, :, :L].index_select(1, index)
        else:
            self.k = self.k.index_select(1, index)
            self.v = self.v.index_select(1, index)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)
        self.dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
                cache: KVCache | None, layer: int, keep: int = 0) -> torch.Tensor:
        """Attention output for the queries at positions keep.. of x; every position gives keys/values."""
        B, T, _ = x.shape
        xq = x[:, keep:] if keep else x
        cq, sq = (cos.narrow(-2, keep, T - keep), sin.narrow(-2, keep, T - keep)) if keep else (cos, sin)
        q = apply_rope(self.wq(xq).view(B, T - keep, self.n_heads, self.head_dim), cq, sq)
        k = apply_rope(self.wk(x).view(B, T, self.n_kv_heads, self.head_dim), cos, sin)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, D)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        p = self.dropout if self.training else 0.0
        # grouped-query attention: SDPA shares each kv head among n_heads / n_kv_heads query heads
        gqa = self.n_kv_heads != self.n_heads
        if mask is None:
            out = causal_attention(q, k, v, p, gqa)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, enable_gqa=gqa)
        out = out.transpose(1, 2).reshape(B, T - keep, -1)
        return self.resid_dropout(self.wo(out))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))
        return self.dropout(self.w2(F.silu(self.w1(x), inplace=True).mul_(self.w3(x))))  # no autograd: in place


class TransformerBlock(nn.Module):
    def __init__(self, cfg: LlamaConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x, cos, sin, mask, cache, keep: int = 0):
        """keep > 0: compute outputs for positions keep.. only (the others still give keys/values)."""
        a = self.attention(self.attention_norm(x), cos, sin, mask, cache, self.layer, keep)
        x = (x[:, keep:] if keep else x) + a
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(TransformerBlock(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        self.apply(self._init_weights)
        # llama2.c: scaled init for the projections that write into the residual stream
        for name, p in self.named_parameters():
            if name.endswith("w3.weight") or name.endswith("wo.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None,
                positions: torch.Tensor | None = None, kv_cache: KVCache | None = None,
                last_only: bool = False, outputs_from: int = 0,
                targets: torch.Tensor | None = None) -> ModelOutput:
        """tokens (B, T). attention_mask (B, S) marks real tokens with 1 and padding with 0, where
        S = cached positions + T (for left-padded batches). positions (B, T) default to the count of
        real tokens before each one (so left padding does not shift positions). last_only: compute
        logits for the final position only (generation). outputs_from: hidden states and logits only
        for positions outputs_from.. (T - outputs_from of them); the last layer then skips the queries
        and feed-forward of the earlier positions, which still provide keys and values (scoring,
        prefill). targets (B, T): return the mean cross-entropy against them (IGNORE_INDEX = no target) as
        .loss, computed chunk by chunk without the logits (.logits is None then)."""
        B, T = tokens.shape
        if not 0 <= outputs_from < T:
            raise ValueError(f"outputs_from must be in [0, {T}), got {outputs_from}")
        past = kv_cache.length if kv_cache is not None else 0
        S = past + T
        if S > self.config.max_seq_len and kv_cache is None:
            raise ValueError(f"sequence length {S} exceeds the model's max_seq_len {self.config.max_seq_len}")
        if positions is None:
            if attention_mask is not None:
                positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past:]
            else:
                positions = torch.arange(past, S, device=tokens.device)
        cos, sin = rope_cos_sin(self.config.head_dim, positions, self.config.rope_theta)
        mask = self._attention_mask(attention_mask, B, T, past, tokens.device)
        h = self.dropout(self.tok_embeddings(tokens))
        last = len(self.layers) - 1
        for i, block in enumerate(self.layers):
            if i == last and outputs_from:
                h = block(h, cos, sin, None if mask is None else mask[:, :, outputs_from:], kv_cache, outputs_from)
            else:
                h = block(h, cos, sin, mask, kv_cache)
        if kv_cache is not None:
            kv_cache.length = S
        h = self.norm(h)
        if targets is not None:
            return ModelOutput(None, h, linear_cross_entropy(h, self.output.weight, targets))
        logits = self.output(h[:, -1:] if last_only else h).float()
        return ModelOutput(logits, h)

    def decode_step(self, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache,
                    keys: torch.Tensor | None = None) -> torch.Tensor:
        """One decoding step: tokens and positions (B,) at cache column `cache.length`; keys
        (B, cache.length + 1) bool marks real tokens (None: all). Returns float logits (B, vocab)
        and advances the cache. Equals `forward(tokens[:, None], ..., kv_cache=cache, last_only=True)`
        but runs on a fused copy of the weights; a decoding loop should take `step = model.decoder()`
        once and call `step(...)`, which skips the check for changed weights."""
        return self.decoder()(tokens, positions, cache, keys)

    def decoder(self, kind: type | None = None) -> "DecodeStep":
        """The DecodeStep (or subclass `kind`) for the current weights: built once, rebuilt only when a
        parameter changes."""
        kind = kind or DecodeStep
        try:
            sig = (kind,) + tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in self.parameters())
        except RuntimeError:  # inference tensors have no version counter: build without caching
            return kind(self)
        hit = _DECODE_STEPS.get(self)
        if hit is None or hit[0] != sig:
            hit = (sig, kind(self))
            _DECODE_STEPS[self] = hit
        return hit[1]

    @staticmethod
    def _attention_mask(attention_mask: torch.Tensor | None, B: int, T: int, past: int,
                        device: torch.device) -> torch.Tensor | None:
        """Boolean (B, 1, T, S) mask, True where a query may attend; None without padding (plain causal)."""
        if attention_mask is None:
            return None
        S = past + T
        causal = torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=past)
        keys = attention_mask[:, :S].bool()[:, None, None, :]
        mask = causal[None, None] & keys
        # a fully masked row (a padding query) would give NaN; let it see itself
        eye = torch.zeros(T, S, dtype=torch.bool, device=device)
        eye[torch.arange(T), past + torch.arange(T)] = True
        return mask | (eye[None, None] & ~mask.any(-1, keepdim=True))


class DecodeStep:
    """The one-token forward pass used at every decoding step (`Llama.decode_step`).

    Same maths as `Llama.forward(tokens[:, None], ..., kv_cache=cache, last_only=True)` for a query at
    cache column `cache.length`: q/k/v and w1/w3 are fused into single (transposed) matrices with the
    RMSNorm weights and the 1/sqrt(head_dim) attention scale folded in, rotary embeddings are one
    complex multiply by a precomputed table, and attention for the single query is two batched
    matmuls with the query heads grouped per kv head (no repeated keys). The layer and output weights
    are copied into this layout once; `Llama.decoder()` keeps one per model until its weights change.
    """

    def __init__(self, model: Llama) -> None:
        cfg = model.config
        self.cfg = cfg
        self.H, self.Hkv, self.D = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        scale = math.sqrt(cfg.dim)  # rsqrt(sum x^2 + dim*eps) * sqrt(dim) == rsqrt(mean x^2 + eps)
        self.layers = []
        with torch.no_grad():
            for blk in model.layers:
                a, f = blk.attention, blk.feed_forward
                q_scale = 1 / math.sqrt(cfg.head_dim)  # rotation is linear: scale q before it
                self.layers.append((self._matrix([a.wq, a.wk, a.wv], blk.attention_norm.weight * scale, [q_scale, 1, 1]),
                                    self._matrix([a.wo]), self._matrix([f.w1, f.w3], blk.ffn_norm.weight * scale),
                                    self._matrix([f.w2])))
            self.out_t = self._matrix([model.output])
            self.emb = model.tok_embeddings.weight
            self.final = (model.norm.weight * scale).detach()
        w = self.emb
        self.eps = torch.full((cfg.dim,), cfg.norm_eps, dtype=w.dtype, device=w.device)
        cos, sin = rope_cos_sin(self.D, torch.arange(cfg.max_seq_len, device=w.device), cfg.rope_theta)
        self.rot = torch.view_as_real(torch.complex(cos, sin)).to(w.dtype).contiguous()  # (T, D/2, 2)
        self.nqk = (self.H + self.Hkv) * self.D
        self.hidden = cfg.hidden_dim

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.addcmul(self.eps, x, x).sum(-1, keepdim=True).rsqrt_()

    # The matrices and their products; decode.precision's step overrides these three for bf16/int8 weights.
    def _matrix(self, linears: list[nn.Module], in_scale: torch.Tensor | None = None,
                out_scales: list[float] | None = None) -> torch.Tensor:
        """The linears' weights stacked, each times its out scale, transposed to (in, out) with the rows
        times in_scale (a norm weight): (dim, out) is faster than the (out, dim) view."""
        if not all(m.weight.is_floating_point() for m in linears):
            raise TypeError("quantized weights: decode through babyllama.decode.precision.precision_step(model)")
        w = torch.cat([m.weight * c for m, c in zip(linears, out_scales or [1.0] * len(linears))]).t()
        return (w if in_scale is None else w * in_scale[:, None]).contiguous()

    def _mm(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return x @ m

    def _mm_add(self, acc: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.addmm(acc, x, m)

    def weights(self) -> list[torch.Tensor]:
        """The tensors a step reads in full (all but the embedding row and the cache)."""
        return [w for layer in self.layers for w in layer] + [self.out_t]

    @torch.inference_mode()
    def __call__(self, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache,
                 keys: torch.Tensor | None = None) -> torch.Tensor:
        """tokens, positions (B,); keys (B, cache.length + 1) bool marks real tokens (None: all).
        Returns logits (B, V) and advances the cache by one position."""
        B = tokens.shape[0]
        H, Hkv, D, nqk = self.H, self.Hkv, self.D, self.nqk
        rep = H // Hkv
        t = cache.length
        L = t + 1
        if L > cache.max_len:
            raise ValueError(f"KV cache full: {L} positions needed, cache holds {cache.max_len}")
        bias = None
        if keys is not None:
            bias = torch.zeros(keys.shape, dtype=self.emb.dtype, device=keys.device).masked_fill_(~keys, float("-inf"))
            bias = bias.view(B, 1, 1, L)
        rot = torch.view_as_complex(self.rot.index_select(0, positions)).unsqueeze(1)  # (B, 1, D/2)
        x = F.embedding(tokens, self.emb)
        for i, (wqkv, wo, w13, w2) in enumerate(self.layers):
            qkv = self._mm(self._norm(x), wqkv)
            qk = torch.view_as_complex(qkv[:, :nqk].view(B, H + Hkv, D // 2, 2)) * rot
            qk = torch.view_as_real(qk).view(B, H + Hkv, D)
            kc, vc = cache.k[i], cache.v[i]
            kc[:, :, t] = qk[:, H:]
            vc[:, :, t] = qkv[:, nqk:].view(B, Hkv, D)
            k = kc[:, :, :L].view(B * Hkv, L, D)  # merging (B, Hkv) keeps this a view
            scores = torch.bmm(qk[:, :H].reshape(B * Hkv, rep, D), k.transpose(1, 2))
            if bias is not None:
                scores = (scores.view(B, Hkv, rep, L) + bias).view(B * Hkv, rep, L)
            o = torch.bmm(scores.softmax(-1), vc[:, :, :L].view(B * Hkv, L, D))  # (B * Hkv, rep, D)
            x = self._mm_add(x, o.view(B, H * D), wo)
            gu = self._mm(self._norm(x), w13)
            x = self._mm_add(x, F.silu(gu[:, :self.hidden]) * gu[:, self.hidden:], w2)
        cache.length = L
        return self._mm(self._norm(x) * self.final, self.out_t)


_DECODE_STEPS: "weakref.WeakKeyDictionary[Llama, tuple[tuple, DecodeStep]]" = weakref.WeakKeyDictionary()
