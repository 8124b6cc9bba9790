"""The loss made chunk by chunk (model.linear_cross_entropy) against torch's F.cross_entropy on logits."""
import pytest
import torch
import torch.nn.functional as F

import babyllama.model as M
from babyllama.model import IGNORE_INDEX, Llama, LlamaConfig, linear_cross_entropy
from babyllama.utils.device import cpu_has_bf16


@pytest.mark.parametrize("chunk", [2 ** 21, 300, 1])  # one chunk, several uneven ones, a row at a time
def test_value_and_gradients_match_torch(monkeypatch, chunk):
    monkeypatch.setattr(M, "CE_CHUNK_ELEMENTS", chunk)
    torch.manual_seed(0)
    h = torch.randn(3, 7, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 50, (3, 7))
    t[0, :4] = IGNORE_INDEX
    ref = F.cross_entropy((h @ w.t()).view(-1, 50), t.view(-1), ignore_index=IGNORE_INDEX)
    gh, gw = torch.autograd.grad(ref * 3, (h, w))
    got = linear_cross_entropy(h, w, t)
    assert torch.allclose(got, ref, rtol=1e-12)
    h2, w2 = torch.autograd.grad(got * 3, (h, w))  # the upstream gradient scales both
    assert torch.allclose(h2, gh, rtol=1e-9, atol=1e-12) and torch.allclose(w2, gw, rtol=1e-9, atol=1e-12)


def test_model_loss_equals_loss_of_its_logits_tied_and_untied():
    for tie in (True, False):
        torch.manual_seed(1)
        model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, vocab_size=97, max_seq_len=16, tie_embeddings=tie))
        x, y = torch.randint(0, 97, (2, 16)), torch.randint(0, 97, (2, 16))
        y[1, 3:9] = IGNORE_INDEX
        out = model(x)
        ref = F.cross_entropy(out.logits.view(-1, 97), y.view(-1), ignore_index=IGNORE_INDEX)
        ref.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        model.zero_grad()
        fused = model(x, targets=y)
        assert fused.logits is None and torch.allclose(fused.hidden, out.hidden)
        assert torch.allclose(fused.loss, ref, atol=1e-6)
        fused.loss.backward()
        for n, p in model.named_parameters():
            assert torch.allclose(p.grad, grads[n], atol=1e-6, rtol=1e-4), n


def test_under_bf16_autocast_close_to_fp32():
    torch.manual_seed(2)
    h = torch.randn(64, 32, requires_grad=True)
    w = (torch.randn(500, 32) * 0.1).requires_grad_()
    t = torch.randint(0, 500, (64,))
    ref = F.cross_entropy(h @ w.t(), t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(h, w, t)
    got.backward()
    assert got.dtype == torch.float32 and abs(got.item() - ref.item()) < 0.02
    assert h.grad.dtype == torch.float32 and w.grad.dtype == torch.float32


def test_cpu_bf16_flags(tmp_path):
    (tmp_path / "a").write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n")
    (tmp_path / "b").write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert cpu_has_bf16(str(tmp_path / "a")) and not cpu_has_bf16(str(tmp_path / "b"))
    assert not cpu_has_bf16(str(tmp_path / "missing"))
