"""The model's parts checked against independent reference formulations."""
import math

import pytest
import torch
import torch.nn.functional as F

from babyllama.model import KVCache, Llama, LlamaConfig, apply_rope, causal_attention, rope_cos_sin

torch.manual_seed(0)


def tiny(**kw) -> LlamaConfig:
    base = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=61, max_seq_len=48, multiple_of=8)
    base.update(kw)
    return LlamaConfig(**base)


def test_rope_matches_real_rotation_of_pairs():
    B, T, H, D = 2, 7, 3, 8
    x = torch.randn(B, T, H, D)
    cos, sin = rope_cos_sin(D, torch.arange(T), 10000.0)
    ours = apply_rope(x, cos, sin)
    # written out: pair i of position t turns by angle t * 10000^(-2i/D), as a 2x2 rotation
    ref = torch.empty_like(x)
    for t in range(T):
        for i in range(D // 2):
            a = t * 10000.0 ** (-2 * i / D)
            x0, x1 = x[:, t, :, 2 * i], x[:, t, :, 2 * i + 1]
            ref[:, t, :, 2 * i] = x0 * math.cos(a) - x1 * math.sin(a)
            ref[:, t, :, 2 * i + 1] = x0 * math.sin(a) + x1 * math.cos(a)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_rope_keeps_norm_and_relative_positions():
    D = 16
    q, k = torch.randn(1, 1, 1, D), torch.randn(1, 1, 1, D)

    def rotated(x, pos):
        cos, sin = rope_cos_sin(D, torch.tensor([pos]), 10000.0)
        return apply_rope(x, cos, sin)

    assert torch.allclose(rotated(q, 5).norm(), q.norm(), atol=1e-5)
    dot_a = (rotated(q, 9) * rotated(k, 4)).sum()
    dot_b = (rotated(q, 25) * rotated(k, 20)).sum()
    assert torch.allclose(dot_a, dot_b, atol=1e-4)


def naive_forward(model: Llama, tokens: torch.Tensor) -> torch.Tensor:
    """The whole model written out with explicit masked softmax attention and repeated kv heads."""
    cfg = model.config
    B, T = tokens.shape
    h = model.tok_embeddings(tokens)
    cos, sin = rope_cos_sin(cfg.head_dim, torch.arange(T), cfg.rope_theta)

    def norm(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + cfg.norm_eps) * w

    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for blk in model.layers:
        a = blk.attention
        x = norm(h, blk.attention_norm.weight)
        q = apply_rope((x @ a.wq.weight.T).view(B, T, cfg.n_heads, -1), cos, sin)
        k = apply_rope((x @ a.wk.weight.T).view(B, T, cfg.n_kv_heads, -1), cos, sin)
        v = (x @ a.wv.weight.T).view(B, T, cfg.n_kv_heads, -1)
        group = cfg.n_heads // cfg.n_kv_heads
        heads = []
        for hd in range(cfg.n_heads):
            qh, kh, vh = q[:, :, hd], k[:, :, hd // group], v[:, :, hd // group]
            scores = qh @ kh.transpose(1, 2) / math.sqrt(cfg.head_dim)
            scores = scores.masked_fill(~causal, float("-inf"))
            heads.append(torch.softmax(scores, -1) @ vh)
        h = h + torch.cat(heads, -1) @ a.wo.weight.T
        f = blk.feed_forward
        x = norm(h, blk.ffn_norm.weight)
        h = h + (F.silu(x @ f.w1.weight.T) * (x @ f.w3.weight.T)) @ f.w2.weight.T
    return norm(h, model.norm.weight) @ model.output.weight.T


@pytest.mark.parametrize("n_kv_heads,tie", [(4, True), (2, False), (1, True)])
def test_forward_matches_naive_reference(n_kv_heads, tie):
    model = Llama(tiny(n_kv_heads=n_kv_heads, tie_embeddings=tie)).eval()
    tokens = torch.randint(0, 61, (3, 11))
    ours = model(tokens).logits
    torch.testing.assert_close(ours, naive_forward(model, tokens), rtol=1e-4, atol=1e-5)


def test_param_count_from_config_matches_module():
    for kw in [dict(), dict(tie_embeddings=False), dict(n_kv_heads=1, hidden_dim=50)]:
        cfg = tiny(**kw)
        assert Llama(cfg).num_params() == cfg.num_params()


def test_hidden_dim_rule_and_validation():
    cfg = LlamaConfig(dim=288, multiple_of=32)
    assert cfg.hidden_dim == 768  # llama2.c stories15M
    assert LlamaConfig(dim=512, n_heads=8, multiple_of=32).hidden_dim == 1376  # stories42M
    with pytest.raises(ValueError, match="n_kv_heads"):
        LlamaConfig(dim=32, n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="unknown model config keys"):
        LlamaConfig.from_dict({"dim": 8, "n_layer": 2})
    with pytest.raises(ValueError, match="field 'dim' must be int, got 'big'"):
        LlamaConfig.from_dict({"dim": "big"})
    with pytest.raises(ValueError, match="field 'tie_embeddings' must be bool, got 0"):
        LlamaConfig.from_dict({"tie_embeddings": 0})
    with pytest.raises(ValueError, match="field 'n_layers' must be int, got True"):
        LlamaConfig.from_dict({"n_layers": True})
    cfg = LlamaConfig.from_dict({"dim": 16, "n_heads": 2, "n_kv_heads": None, "norm_eps": 1, "dropout": 0.1})
    assert (cfg.n_kv_heads, cfg.norm_eps, cfg.dropout) == (2, 1, 0.1)  # None where allowed; int for float


def test_kv_cache_forward_equals_full_forward():
    model = Llama(tiny()).eval()
    tokens = torch.randint(0, 61, (2, 20))
    full = model(tokens).logits
    cache = KVCache(model.config, batch_size=2)
    parts = [model(tokens[:, :7], kv_cache=cache).logits]
    parts.append(model(tokens[:, 7:12], kv_cache=cache).logits)  # several new tokens after cached ones
    for t in range(12, 20):
        parts.append(model(tokens[:, t:t + 1], kv_cache=cache).logits)
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-4, atol=1e-5)
    assert cache.length == 20


def test_left_padding_does_not_change_real_tokens():
    model = Llama(tiny()).eval()
    seq = torch.randint(3, 61, (1, 9))
    alone = model(seq).logits
    padded = torch.cat([torch.zeros(1, 4, dtype=torch.long), seq], 1)
    mask = torch.cat([torch.zeros(1, 4), torch.ones(1, 9)], 1).long()
    out = model(padded, attention_mask=mask).logits[:, 4:]
    torch.testing.assert_close(out, alone, rtol=1e-4, atol=1e-5)
    assert torch.isfinite(model(padded, attention_mask=mask).logits).all()


@pytest.mark.parametrize("start", [1, 6, 11])
def test_outputs_from_equals_the_tail_of_the_full_forward(start):
    model = Llama(tiny(n_kv_heads=2)).eval()
    tokens = torch.randint(3, 61, (2, 12))
    full = model(tokens)
    part = model(tokens, outputs_from=start)
    assert part.hidden.shape[1] == part.logits.shape[1] == 12 - start
    torch.testing.assert_close(part.logits, full.logits[:, start:], rtol=1e-4, atol=1e-5)
    # with left padding and a KV cache: the tail matches, and the cache holds every position's keys
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[0, :3] = 0
    ref_cache, cache = KVCache(model.config, 2), KVCache(model.config, 2)
    ref = model(tokens, attention_mask=mask, kv_cache=ref_cache).logits
    got = model(tokens, attention_mask=mask, kv_cache=cache, outputs_from=start).logits
    torch.testing.assert_close(got, ref[:, start:], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cache.k, ref_cache.k)
    torch.testing.assert_close(cache.v, ref_cache.v)
    with pytest.raises(ValueError, match="outputs_from"):
        model(tokens, outputs_from=12)


@pytest.mark.parametrize("Tq,S,D", [(150, 150, 8), (150, 150, 32), (70, 200, 8), (1, 90, 8), (40, 40, 8)])
def test_blocked_causal_attention_equals_one_masked_softmax(Tq, S, D):
    """Query blocks against keys up to their end equal plain attention with a bottom-right causal mask,
    values and gradients (GQA: 4 query heads on 2 kv heads)."""
    torch.manual_seed(0)
    q = torch.randn(2, 4, Tq, D, requires_grad=True)
    k, v = torch.randn(2, 2, S, D, requires_grad=True), torch.randn(2, 2, S, D, requires_grad=True)
    got = causal_attention(q, k, v, enable_gqa=True)
    kr, vr = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
    allowed = torch.ones(Tq, S, dtype=torch.bool).tril(S - Tq)
    ref = ((q @ kr.transpose(-1, -2)) / math.sqrt(D)).masked_fill(~allowed, float("-inf")).softmax(-1) @ vr
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(torch.autograd.grad(got.square().sum(), (q, k, v)), torch.autograd.grad(ref.square().sum(), (q, k, v))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_sequence_longer_than_context_is_refused():
    model = Llama(tiny(max_seq_len=8))
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_init_like_llama2c():
    model = Llama(LlamaConfig(dim=64, n_layers=4, n_heads=4, vocab_size=1000))
    std_wq = model.layers[0].attention.wq.weight.std().item()
    std_wo = model.layers[0].attention.wo.weight.std().item()
    assert abs(std_wq - 0.02) < 0.002
    assert abs(std_wo - 0.02 / math.sqrt(8)) < 0.001
    assert model.output.weight is model.tok_embeddings.weight
