"""SFT and DPO runs end to end on a tiny model, the chat and evaluate verbs, and the losses checked
against hand computations and TRL."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from babyllama.checkpoint.model_dir import load_model_dir
from babyllama.config import load_config
from babyllama.data.chat import IGNORE_INDEX, add_chat_tokens, render, sft_tensors
from babyllama.data.stories.instructions import write_instruction_files
from babyllama.train.align import dpo, sft
from babyllama.train.objectives import LanguageModeling
from babyllama.train.preference import DPO, dpo_loss, sequence_logps

from helpers import tiny_base_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny untrained model folder with a story tokenizer, and instruction data."""
    root = tmp_path_factory.mktemp("chat")
    tiny_base_model(root / "base")
    write_instruction_files(root / "inst", 24, 8)
    return root


def cfg_for(root, run, init, files, val, *extra):
    return load_config(None, [f"train.init_from={init}", f"train.run_dir={run}", f"align.train_files={files}",
                              f"align.val_files={val}", "data.seq_len=511", "data.batch_size=4", "optim.max_steps=6",
                              "optim.warmup_steps=1", "optim.lr=3e-3", "train.log_every=1", "train.eval_every=3",
                              "train.save_every=3", "train.num_samples=0", "train.device=cpu", *extra])


def records(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def test_sft_then_dpo_runs_resume_and_write_chat_models(base, tmp_path):
    inst = base / "inst"
    r = sft(cfg_for(base, tmp_path / "sft", base / "base", inst / "sft_train.jsonl", inst / "sft_train.jsonl"),
            quiet=True)
    model, tok = load_model_dir(r.model_dir)
    assert tok.vocab_size == model.config.vocab_size == 404 and tok.piece_to_id("<|end|>") == 403
    assert r.val_loss is not None and r.step == 6
    # DPO from the SFT model; a run stopped at step 3 and resumed logs the same losses as a straight one
    args = (tmp_path / "dpo", r.model_dir, inst / "pairs_train.jsonl", inst / "pairs_val.jsonl")
    straight = dpo(cfg_for(base, *args, "optim.schedule=constant"), quiet=True)
    recs = records(tmp_path / "dpo")
    final = recs[-1]
    for key in ("loss", "logp_chosen", "logp_rejected", "reward_margin", "reward_acc"):
        assert key in recs[1], key
    for key in ("val_reward_acc", "val_reward_margin", "val_logp_chosen"):
        assert key in final, key
    assert records(tmp_path / "dpo")[1]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy = reference
    dpo(cfg_for(base, tmp_path / "dpo2", *args[1:], "optim.schedule=constant", "optim.max_steps=3"), quiet=True)
    resumed = dpo(cfg_for(base, tmp_path / "dpo2", *args[1:], "optim.schedule=constant"), resume=True, quiet=True)
    a = {x["step"]: x["loss"] for x in records(tmp_path / "dpo") if "loss" in x}
    b = {x["step"]: x["loss"] for x in records(tmp_path / "dpo2") if "loss" in x}
    assert a == pytest.approx(b, rel=1e-5) and resumed.step == straight.step == 6


def test_sft_loss_is_the_mean_cross_entropy_over_assistant_tokens(base):
    model, tok = load_model_dir(base / "base")
    tok = add_chat_tokens(tok)
    from babyllama.model import resize_vocab
    resize_vocab(model, tok.vocab_size)
    convs = [[{"role": "user", "content": "Tell a story."}, {"role": "assistant", "content": "Tom ran home."}],
             [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
              {"role": "assistant", "content": "Hello there, friend."}]]
    rows = [render(c, tok) for c in convs]
    x, y = sft_tensors(rows, tok.pad_id)
    loss, _ = LanguageModeling().loss(model, (x, y))
    # by hand: each conversation alone, no padding, log-softmax of the logit before each assistant token
    total, count = 0.0, 0
    for r in rows:
        logits = model(torch.tensor([r.ids])).logits[0]
        for t in range(1, len(r.ids)):
            if r.mask[t]:
                total -= torch.log_softmax(logits[t - 1].double(), -1)[r.ids[t]].item()
                count += 1
    assert count == sum(sum(r.mask) for r in rows)
    assert loss.item() == pytest.approx(total / count, abs=1e-5)


def _hand_dpo(pc, pr, rc, rr, beta, eps):
    h = (pc - pr) - (rc - rr)
    return -(1 - eps) * math.log(1 / (1 + math.exp(-beta * h))) - eps * math.log(1 / (1 + math.exp(beta * h)))


def test_dpo_loss_matches_a_hand_formula_and_ipo():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (torch.randn(16, generator=g, dtype=torch.float64) * 5 - 40 for _ in range(4))
    for beta, eps in ((0.1, 0.0), (0.5, 0.2), (2.0, 0.1)):
        losses, r_c, r_r = dpo_loss(pc, pr, rc, rr, beta, eps)
        hand = [_hand_dpo(*(float(v[i]) for v in (pc, pr, rc, rr)), beta, eps) for i in range(16)]
        assert losses.tolist() == pytest.approx(hand, abs=1e-6)
        assert r_c.tolist() == pytest.approx((beta * (pc - rc)).tolist(), abs=1e-9)
    ipo, _, _ = dpo_loss(pc, pr, rc, rr, 0.25, loss_type="ipo")
    h = (pc - pr) - (rc - rr)
    assert ipo.tolist() == pytest.approx(((h - 2.0) ** 2).tolist(), abs=1e-6)


def trl_dpo_loss(pc, pr, rc, rr, beta, loss_type, n_tokens=4):
    """TRL's DPOTrainer._compute_loss on given summed log-probabilities: a stand-in model returns
    per-token log-probs that sum to them (n_tokens answer tokens each); the reference's are precomputed."""
    from collections import defaultdict
    from types import SimpleNamespace

    from trl import DPOTrainer

    rows, T = 2 * pc.shape[0], n_tokens
    zeros = torch.zeros(rows, T)
    out = SimpleNamespace(log_probs=(torch.cat([pc, pr]) / T).unsqueeze(1).expand(rows, T).clone(), aux_loss=None,
                          entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())
    fake = DPOTrainer.__new__(DPOTrainer)
    fake.__dict__.update(
        model=SimpleNamespace(training=True), aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True,
        accelerator=SimpleNamespace(device="cpu", gather=lambda x: x, gather_for_metrics=lambda x: x),
        f_divergence_type="reverse_kl", loss_types=[loss_type], loss_weights=[1.0], beta=beta, label_smoothing=0.0,
        use_weighting=False, _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1)
    mask = torch.ones(rows, T + 1, dtype=torch.long)
    mask[:, 0] = 0  # the prompt token
    inputs = {"input_ids": torch.zeros(rows, T + 1, dtype=torch.long), "completion_mask": mask,
              "attention_mask": torch.ones(rows, T + 1, dtype=torch.long), "ref_chosen_logps": rc,
              "ref_rejected_logps": rr}
    loss = DPOTrainer._compute_loss(fake, lambda **kw: out, inputs, False)
    return float(loss), fake._metrics["train"]


@pytest.mark.parametrize("loss_type,beta", [("sigmoid", 0.1), ("sigmoid", 0.7), ("ipo", 0.25)])
def test_dpo_loss_matches_trl(loss_type, beta):
    pytest.importorskip("trl")
    g = torch.Generator().manual_seed(1)
    pc, pr, rc, rr = (torch.randn(8, generator=g, dtype=torch.float64) * 3 - 20 for _ in range(4))
    theirs, metrics = trl_dpo_loss(pc, pr, rc, rr, beta, loss_type)
    # ours on the same numbers; IPO averages over the 4 answer tokens, as DPO() does with counts
    n = 4 if loss_type == "ipo" else 1
    ours, r_c, r_r = dpo_loss(pc / n, pr / n, rc / n, rr / n, beta, loss_type=loss_type)
    assert float(ours.mean()) == pytest.approx(theirs, abs=1e-6)
    if loss_type == "sigmoid":
        assert float(r_c.mean()) == pytest.approx(metrics["rewards/chosen"][0], abs=1e-6)
        assert float((r_c > r_r).double().mean()) == pytest.approx(metrics["rewards/accuracies"][0], abs=1e-6)


def test_dpo_gradients_vanish_as_beta_shrinks(base):
    model, tok = load_model_dir(base / "base")
    x = torch.randint(4, tok.vocab_size, (4, 12))
    y = x.roll(-1, 1)
    y[:, :5] = IGNORE_INDEX
    with torch.no_grad():
        ref = sequence_logps(model(x).logits, y)[0] + torch.tensor([0.5, -0.3, 0.2, -0.1])
    norms = []
    for beta in (1.0, 1e-1, 1e-2, 1e-3):
        model.zero_grad()
        loss, _ = DPO(beta).loss(model, {"input_ids": x, "labels": y, "ref_logps": ref})
        loss.backward()
        norms.append(math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None)))
        # at small beta the loss tends to log 2 and its gradient to beta/2 * d(h)
        if beta <= 1e-2:
            assert loss.item() == pytest.approx(math.log(2), abs=beta * 10)
    for big, small in zip(norms, norms[1:]):
        assert small < big
    assert norms[-1] / norms[-2] == pytest.approx(0.1, rel=0.05)


def test_dpo_with_an_nll_term_on_chosen_answers_matches_a_hand_computation(base):
    model, tok = load_model_dir(base / "base")
    torch.manual_seed(3)
    x = torch.randint(4, tok.vocab_size, (4, 10))  # pairs (0, 2) and (1, 3): chosen rows first
    y = x.roll(-1, 1)
    for row, start in enumerate((4, 6, 3, 5)):  # answers of different lengths
        y[row, :start] = IGNORE_INDEX
    ref = torch.tensor([-30.0, -25.0, -33.0, -24.0])
    with torch.no_grad():
        logits = model(x).logits.double()
    sums, counts = [], []  # by hand: each answer token's log-probability, one at a time
    for row in range(4):
        terms = [torch.log_softmax(logits[row, t], -1)[y[row, t]].item() for t in range(10) if y[row, t] >= 0]
        sums.append(sum(terms))
        counts.append(len(terms))
    nll = -(sums[0] + sums[1]) / (counts[0] + counts[1])
    for beta, eps, alpha in ((0.1, 0.0, 1.0), (0.5, 0.1, 0.3), (0.2, 0.0, 0.0)):
        dpo_part = sum(_hand_dpo(sums[i], sums[i + 2], float(ref[i]), float(ref[i + 2]), beta, eps) for i in (0, 1)) / 2
        loss, metrics = DPO(beta, eps, nll_weight=alpha).loss(model, {"input_ids": x, "labels": y, "ref_logps": ref})
        assert loss.item() == pytest.approx(dpo_part + alpha * nll, abs=1e-5)
        assert metrics["nll_chosen"] == pytest.approx(nll, abs=1e-5)
    # IPO: the squared margin of per-token means, plus the same term
    mean = [s / c for s, c in zip(sums, counts)]
    rmean = [float(r) / c for r, c in zip(ref, counts)]
    ipo = sum(((mean[i] - mean[i + 2]) - (rmean[i] - rmean[i + 2]) - 1 / (2 * 0.25)) ** 2 for i in (0, 1)) / 2
    loss, _ = DPO(0.25, loss_type="ipo", nll_weight=0.5).loss(model, {"input_ids": x, "labels": y, "ref_logps": ref})
    assert loss.item() == pytest.approx(ipo + 0.5 * nll, abs=1e-5)
    with pytest.raises(ValueError, match="nll_weight"):
        DPO(0.1, nll_weight=-1.0)


def test_cli_sft_chat_evaluate(base, tmp_path):
    inst = base / "inst"
    run = subprocess.run([sys.executable, "-m", "babyllama", "sft", f"train.init_from={base / 'base'}",
                          f"train.run_dir={tmp_path / 'sft'}", f"align.train_files={inst / 'sft_train.jsonl'}",
                          "data.seq_len=511", "data.batch_size=4", "optim.max_steps=2", "optim.warmup_steps=1",
                          "train.num_samples=0", "train.device=cpu", "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    model_dir = tmp_path / "sft" / "model"
    save = tmp_path / "conv.jsonl"
    chat = subprocess.run([sys.executable, "-m", "babyllama", "chat", str(model_dir), "--system", "Be kind.",
                           "--max-new-tokens", "5"], input=f"Hello\n/reset\nTell a story\n/save {save}\n",
                          capture_output=True, text=True)
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.count("assistant> ") == 2
    saved = json.loads(save.read_text())["messages"]
    assert [m["role"] for m in saved] == ["system", "user", "assistant"] and saved[1]["content"] == "Tell a story"
    out = tmp_path / "report.json"
    ev = subprocess.run([sys.executable, "-m", "babyllama", "evaluate", str(model_dir), "--task", "story-instructions",
                         "--file", str(inst / "eval.jsonl"), "--n", "4", "--max-new-tokens", "8", "--out", str(out)],
                        capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    report = json.loads(out.read_text())["tasks"]["story-instructions"]
    assert report["mode"] == "chat" and report["n"] == 4
    assert len((tmp_path / "report.story-instructions.jsonl").read_text().splitlines()) == 4
    # an untrained model's 8 tokens name nobody: character share is 0 with a CI at 0
    assert report["metrics"]["character"]["mean"] == 0.0
    bad = subprocess.run([sys.executable, "-m", "babyllama", "sft", f"train.init_from={base / 'base'}",
                          f"train.run_dir={tmp_path / 'bad'}", f"align.train_files={tmp_path / 'nope.jsonl'}",
                          "train.device=cpu"], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope.jsonl: file not found" in bad.stderr
