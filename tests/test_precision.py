"""Weight-only bf16 / int8 inference (babyllama.decode.precision) and its --dtype option."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from babyllama.decode import GenerationConfig, generate
from babyllama.decode.precision import (LowPrecisionLinear, check_dtype, model_precision, precision_step,
                                        quantize_int8, to_precision)
from babyllama.model import DecodeStep, KVCache
from babyllama.utils.io import BabyLlamaError
from helpers import noisy_model, tiny_base_model

# dim 64 and hidden 128 take torch's int8 kernel; hidden 172 (w2's inner size) takes the dequantizing fallback
SHAPES = [dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=96, hidden_dim=128, max_seq_len=64),
          dict(dim=64, n_layers=2, n_heads=8, n_kv_heads=4, vocab_size=96, hidden_dim=172, max_seq_len=64)]


def small_model(shape):
    """N(0, 0.3) weights, scaled so logits stay O(1-10): quantization errors are visible, not swamped."""
    model = noisy_model(1, **shape)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and not name.startswith("tok_"):
                p.mul_(0.4)
    return model


def test_int8_quantization_matches_an_independent_per_row_rule():
    w = torch.randn(40, 64, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.01, 3, 40)[:, None]
    q, scale = quantize_int8(w)
    wn = w.numpy().astype(np.float64)
    step = np.abs(wn).max(1) / 127  # numpy reference: symmetric, per output row
    assert q.dtype == torch.int8 and q.abs().max() <= 127
    # the scale is the reference step rounded up to a bfloat16 value (at most 2^-7 relatively larger)
    s = scale.numpy().astype(np.float64)
    assert np.all(s >= step) and np.all(s <= step * (1 + 2 ** -7))
    assert torch.equal(scale, scale.bfloat16().float())
    err = np.abs(wn - q.numpy() * s[:, None])
    assert np.all(err <= s[:, None] / 2 + 1e-7)  # round to nearest: half a step at most
    assert np.all(np.abs(q.numpy()).max(1) >= 126)  # the range is used


@pytest.mark.parametrize("kind", ["bf16", "int8"])
def test_low_precision_linear_is_the_rounded_matmul(kind):
    lin = torch.nn.Linear(64, 48, bias=False)
    x = torch.randn(3, 5, 64)
    m = LowPrecisionLinear(lin, kind)
    if kind == "bf16":
        w = lin.weight.detach().bfloat16().double()
    else:
        q, s = quantize_int8(lin.weight)
        w = q.double() * s.double()[:, None]
    ref = F.linear(x.bfloat16().double(), w)  # bf16 input, exact product
    out = m(x)
    assert out.shape == (3, 5, 48) and out.dtype == torch.float32
    # the only further error: float32 accumulation and a bfloat16 result (2^-8 relative)
    assert torch.allclose(out.double(), ref, rtol=2 ** -7, atol=1e-4)


@pytest.mark.parametrize("shape", SHAPES, ids=["kernel", "fallback"])
def test_low_precision_logits_are_close_to_fp32(shape):
    """Stated tolerance: relative L2 error of the logits under 1% for bf16 and 3% for int8."""
    model = small_model(shape)
    x = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x).logits
        for kind, tol in (("bf16", 0.01), ("int8", 0.03)):
            m = to_precision(copy.deepcopy(model), kind)
            assert model_precision(m) == kind
            logits = m(x).logits
            rel = ((logits - ref).norm() / ref.norm()).item()
            assert 0 < rel < tol, (kind, rel)
            # the next-token choice mostly survives
            agree = (logits.argmax(-1) == ref.argmax(-1)).float().mean().item()
            assert agree > 0.8, (kind, agree)


@pytest.mark.parametrize("shape", SHAPES, ids=["kernel", "fallback"])
@pytest.mark.parametrize("kind", ["bf16", "int8"])
def test_decode_step_matches_the_forward_pass_of_the_same_weights(shape, kind):
    model = to_precision(small_model(shape), kind)
    step = precision_step(model)
    assert isinstance(step, DecodeStep) and type(step) is not DecodeStep
    if kind == "int8":  # the float step would drop the scales: it refuses
        with pytest.raises(TypeError, match="precision_step"):
            model.decoder()
    x = torch.randint(0, 96, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = model(x).logits
        cache = KVCache(model.config, 2, 32)
        model(x[:, :12], kv_cache=cache)
        steps = torch.stack([step(x[:, t], torch.full((2,), t), cache) for t in range(12, 20)], 1)
    assert torch.allclose(steps, full[:, 12:], rtol=0.02, atol=0.02 * full.abs().max().item())
    # generate through the step and through Llama.forward: the same greedy tokens
    cfg = GenerationConfig(max_new_tokens=12, ignore_eos=True)
    fast = generate(model, None, [[1, 5, 9, 2]], cfg)[0].tokens
    slow = generate(model, None, [[1, 5, 9, 2]], cfg, fast=False)[0].tokens
    assert fast == slow


def test_step_reads_fewer_bytes_with_lower_precision():
    model = small_model(SHAPES[0])
    nbytes = {k: sum(w.numel() * w.element_size()
                     for w in precision_step(to_precision(copy.deepcopy(model), k)).weights())
              for k in ("fp32", "bf16", "int8")}
    assert nbytes["bf16"] == nbytes["fp32"] // 2
    n_out = (64 + 2 * 32) + 64 + 2 * 128 + 64  # per-row scales (bf16) of qkv, wo, w1/w3, w2 per layer ...
    assert nbytes["int8"] == nbytes["fp32"] // 4 + 2 * (2 * n_out + 96)  # ... and of the output layer


def test_load_with_dtype_and_bad_values(tmp_path):
    from babyllama.loading import load

    folder = tiny_base_model(tmp_path / "m", max_seq_len=64)
    ref = load(folder)
    for kind in ("bf16", "int8"):
        loaded = load(folder, dtype=kind)
        assert model_precision(loaded.model) == kind and loaded.info["precision"] == kind
        r = generate(loaded.model, loaded.tokenizer, "Once upon a time", max_new_tokens=8)[0]
        assert len(r.tokens) > 0
        assert ref.tokenizer.vocab_size == loaded.tokenizer.vocab_size
    for bad in ("fp16", "int4", "", "INT8"):
        with pytest.raises(BabyLlamaError, match="dtype") as e:
            load(folder, dtype=bad)
        assert "\n" not in str(e.value)
    with pytest.raises(BabyLlamaError, match="already has int8"):
        to_precision(load(folder, dtype="int8").model, "bf16")
    assert check_dtype("fp32") == "fp32"


@pytest.mark.parametrize("verb", ["generate", "sample", "ppl", "chat", "serve"])
def test_cli_refuses_a_bad_dtype_with_one_line(tmp_path, capsys, verb):
    from babyllama.cli import main

    folder = tiny_base_model(tmp_path / "m", max_seq_len=64)
    extra = {"generate": ["--prompt", "x"], "sample": ["--prompt", "x"], "chat": [],
             "ppl": ["--data", str(tmp_path / "m" / "config.json")], "serve": []}[verb]
    rc = main([verb, str(folder), "--dtype", "fp16", *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "--dtype 'fp16'" in err and "bf16" in err


def test_cli_generate_int8(tmp_path, capsys):
    from babyllama.cli import main

    folder = tiny_base_model(tmp_path / "m", max_seq_len=64)
    outs = {}
    for kind in ("fp32", "int8"):
        rc = main(["generate", str(folder), "--prompt", "Once upon a time", "--max-new-tokens", "6",
                   "--quiet", "--dtype", kind])
        assert rc == 0
        outs[kind] = capsys.readouterr().out
    for out in outs.values():
        assert out.startswith("--- prompt 0") and "\nOnce upon a time" in out
