"""Our AdamW against torch.optim.AdamW and a hand-computed minllama example; the LR schedules."""
import copy
import math

import pytest
import torch

from babyllama.model import Llama, LlamaConfig
from babyllama.train.optim import AdamW, build_optimizer, param_groups
from babyllama.train.schedule import lr_at


def tiny_model(seed: int = 0) -> Llama:
    torch.manual_seed(seed)
    return Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=50, max_seq_len=16,
                             multiple_of=8))


def run_steps(model, opt, steps: int, seed: int = 1) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = torch.randint(0, 50, (4, 12), generator=g)
        y = torch.randint(0, 50, (4, 12), generator=g)
        loss = torch.nn.functional.cross_entropy(model(x).logits.reshape(-1, 50), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_matches_torch_adamw_over_20_steps(weight_decay):
    ours_model = tiny_model()
    ref_model = copy.deepcopy(ours_model)
    kw = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    ours = AdamW(param_groups(ours_model, weight_decay), **kw)
    ref = torch.optim.AdamW(param_groups(ref_model, weight_decay), **kw)
    # a third group setting: different lr for the no-decay group
    ours.param_groups[1]["lr"] = ref.param_groups[1]["lr"] = 1e-3
    run_steps(ours_model, ours, 20)
    run_steps(ref_model, ref, 20)
    for (name, a), (_, b) in zip(ours_model.named_parameters(), ref_model.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    # the parameters really moved (the comparison is not trivially true)
    assert not torch.allclose(ours_model.layers[0].attention.wq.weight, tiny_model().layers[0].attention.wq.weight)


def test_state_dict_resume_is_exact():
    model_a = tiny_model()
    model_b = copy.deepcopy(model_a)
    opt_a = AdamW(param_groups(model_a, 0.1), lr=2e-3)
    straight = run_steps(model_a, opt_a, 6)
    opt_b = AdamW(param_groups(model_b, 0.1), lr=2e-3)
    first = run_steps(model_b, opt_b, 3)
    state = copy.deepcopy(opt_b.state_dict())
    opt_c = AdamW(param_groups(model_b, 0.1), lr=2e-3)
    opt_c.load_state_dict(state)
    # continue with the data the straight run saw in steps 4-6
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        torch.randint(0, 50, (4, 12), generator=g), torch.randint(0, 50, (4, 12), generator=g)
    rest = []
    for _ in range(3):
        x, y = torch.randint(0, 50, (4, 12), generator=g), torch.randint(0, 50, (4, 12), generator=g)
        loss = torch.nn.functional.cross_entropy(model_b(x).logits.reshape(-1, 50), y.reshape(-1))
        opt_c.zero_grad()
        loss.backward()
        opt_c.step()
        rest.append(loss.item())
    assert first + rest == straight


def test_minllama_flavour_two_steps_by_hand():
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-6, 0.01
    p = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = AdamW([p], lr=lr, weight_decay=wd, flavour="minllama")
    assert opt.defaults["eps"] == 1e-6 and opt.defaults["betas"] == (0.9, 0.999)
    grads = [(0.5, 3.0), (-1.0, 2.0)]
    expected = [1.0, -2.0]
    ms, vs = [0.0, 0.0], [0.0, 0.0]
    for t, g in enumerate(grads, start=1):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)  # efficient bias correction
        for i in range(2):
            ms[i] = b1 * ms[i] + (1 - b1) * g[i]
            vs[i] = b2 * vs[i] + (1 - b2) * g[i] * g[i]
            expected[i] = expected[i] - alpha * ms[i] / (math.sqrt(vs[i]) + eps)
            expected[i] = expected[i] - lr * wd * expected[i]  # decay after the update, scaled by lr
        assert p.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-12)
        if t == 1:
            # closed form of a first Adam step: m = (1-b1) g and sqrt(v) = sqrt(1-b2)|g|, so each coordinate
            # moves by lr * g / (|g| + eps/sqrt(1-b2)) (about lr against the gradient's sign), then decays
            first = [(x0 - lr * gi / (abs(gi) + eps / math.sqrt(1 - b2))) * (1 - lr * wd)
                     for x0, gi in zip((1.0, -2.0), g)]
            assert p.tolist() == pytest.approx(first, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_minllama_flavour_against_torch_adamw(weight_decay):
    """With eps = 0 the minllama step size equals torch's bias correction; its weight decay comes after
    the update: p <- (p - update) * (1 - lr*wd), where torch decays first."""
    lr, betas = 0.01, (0.8, 0.99)
    g = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, generator=g, dtype=torch.float64)
    ours_p = start.clone().requires_grad_(True)
    ref_p = start.clone().requires_grad_(True)
    ours = AdamW([ours_p], lr=lr, betas=betas, eps=0.0, weight_decay=weight_decay, flavour="minllama")
    ref = torch.optim.AdamW([ref_p], lr=lr, betas=betas, eps=0.0, weight_decay=0.0)
    for _ in range(6):
        grad = torch.randn(3, 4, generator=g, dtype=torch.float64) + 0.1  # no exact zeros: eps is 0
        ours_p.grad, ref_p.grad = grad.clone(), grad.clone()
        ours.step()
        ref.step()
        with torch.no_grad():
            ref_p.mul_(1 - lr * weight_decay)
        torch.testing.assert_close(ours_p, ref_p, rtol=1e-12, atol=1e-12)
    assert (ours_p - start).abs().min() > 1e-3  # every coordinate moved


def test_minllama_without_bias_correction():
    p = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    opt = AdamW([p], lr=0.01, flavour="minllama", correct_bias=False)
    p.grad = torch.tensor([2.0], dtype=torch.float64)
    opt.step()
    m, v = 0.1 * 2.0, 0.001 * 4.0
    assert p.item() == pytest.approx(0.3 - 0.01 * m / (math.sqrt(v) + 1e-6), rel=1e-12)


def test_param_groups_decay_only_matrices():
    model = tiny_model()
    groups = param_groups(model, 0.1)
    assert all(p.dim() >= 2 for p in groups[0]["params"]) and groups[0]["weight_decay"] == 0.1
    assert all(p.dim() == 1 for p in groups[1]["params"]) and groups[1]["weight_decay"] == 0.0
    n = sum(p.numel() for g in groups for p in g["params"])
    assert n == model.num_params()  # tied output counted once
    opt = build_optimizer(model, "minllama_adamw", 1e-3, (0.9, 0.99), 1e-8, 0.1)
    assert isinstance(opt, AdamW) and opt.defaults["flavour"] == "minllama"


def test_schedule_key_steps():
    kw = dict(lr=1.0, warmup_steps=10, max_steps=110, min_lr=0.1)
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(4, **kw) == pytest.approx(0.5)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    assert lr_at(10, **kw) == pytest.approx(1.0)
    assert lr_at(60, **kw) == pytest.approx(0.55)  # cosine halfway: min + (lr - min)/2
    assert lr_at(35, **kw) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_at(110, **kw) == pytest.approx(0.1)
    assert lr_at(500, **kw) == pytest.approx(0.1)
    assert lr_at(60, schedule="linear", **kw) == pytest.approx(0.55)
    assert lr_at(85, schedule="linear", **kw) == pytest.approx(1.0 - 0.9 * 0.75)
    assert lr_at(5, schedule="constant", **kw) == pytest.approx(0.6)
    assert lr_at(1000, schedule="constant", **kw) == 1.0
    assert lr_at(0, lr=2.0, warmup_steps=0, max_steps=10, min_lr=0.0) == 2.0
    # cosine decreases monotonically after warmup
    vals = [lr_at(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))
