"""Continual pretraining: vocabulary extension, mixtures, named validation sets, stage options."""
import copy
import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import byte_level_bpe, noisy_model

from babyllama.checkpoint.extend import CALIBRATION_TOKENS, extend_vocabulary, fertility
from babyllama.checkpoint.model_dir import load_model_dir, save_model
from babyllama.cli import main
from babyllama.config import load_config
from babyllama.data.mixture import MixtureLoader, parse_mixture
from babyllama.data.prepare import prepare
from babyllama.eval.perplexity import evaluate
from babyllama.model import resize_vocab
from babyllama.tokenizers import BPETokenizer, train_tokenizer
from babyllama.train import train
from babyllama.utils.io import BabyLlamaError

HANZI = "從前有一個小女孩她喜歡在花園裡玩耍天空很藍太陽照著大地鳥兒唱歌貓咪睡覺朋友們一起快樂地笑了"


def english(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names, things = ["Tom", "Lily", "Sam", "Mia"], ["ball", "cat", "kite", "cake", "tree"]
    return [f"Once upon a time, {rng.choice(names)} had a {rng.choice(things)}. They were happy."
            for _ in range(n)]


def chinese(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = [HANZI[i:i + rng.randint(1, 3)] for i in range(0, len(HANZI), 2)]
    return ["".join(rng.choice(words) for _ in range(rng.randint(20, 40))) + "。" for _ in range(n)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A base model folder (tied, random) with an English tokenizer, its extension, and prepared data."""
    root = tmp_path_factory.mktemp("continual")
    tok = train_tokenizer(english(200), 300, num_threads=1)
    model = noisy_model(0, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=300, max_seq_len=64,
                        multiple_of=16)
    save_model(model, root / "base", tok)
    zh = root / "zh.jsonl"
    zh.write_text("".join(json.dumps({"story": t}, ensure_ascii=False) + "\n" for t in chinese(300)), encoding="utf-8")
    en = root / "en.txt"
    en.write_text("\n<|endoftext|>\n".join(english(300, seed=5)))
    ext = extend_vocabulary(copy.deepcopy(model), tok, chinese(300), 40, num_threads=1)
    save_model(ext.model, root / "ext", ext.tokenizer, extra={"extended": ext.info()})
    for name, src in (("zh", zh), ("en", en)):
        prepare([str(src) if name == "en" else _story(src)], root / f"{name}_ext", ext.tokenizer, progress=False,
                val_fraction=0.1, num_workers=1)
    prepare([en], root / "en_base", tok, progress=False, val_fraction=0.1, num_workers=1)
    return {"root": root, "model": model, "tok": tok, "ext": ext}


def _story(path):
    from babyllama.data.sources import Source

    return Source(str(path), field="story")


# ---------------------------------------------------------------- resizing and extension

@pytest.mark.parametrize("tied", [True, False])
def test_resize_vocab_keeps_old_rows_and_means_new_ones(tied):
    model = noisy_model(1, dim=16, n_layers=1, n_heads=2, vocab_size=50, max_seq_len=16, tie_embeddings=tied)
    x = torch.randint(0, 50, (2, 10))
    before = model(x).logits
    emb0, out0 = model.tok_embeddings.weight.clone(), model.output.weight.clone()
    resize_vocab(model, 53, [[3, 4, 5], [7], []])
    emb, out = model.tok_embeddings.weight, model.output.weight
    assert emb.shape == (53, 16) and out.shape == (53, 16) and model.config.vocab_size == 53
    assert torch.equal(emb[:50], emb0) and torch.equal(out[:50], out0)
    for w, w0 in ((emb, emb0), (out, out0)):  # each matrix averages its own rows
        torch.testing.assert_close(w[50], (w0[3] + w0[4] + w0[5]) / 3)
        assert torch.equal(w[51], w0[7])
        torch.testing.assert_close(w[52], w0.sum(0) / 50)
    assert (model.output.weight is model.tok_embeddings.weight) == tied
    assert torch.equal(model(x).logits[..., :50], before)  # same logits over the old ids
    rows = torch.randn(2, 16)
    resize_vocab(model, 55, rows)
    assert torch.equal(model.tok_embeddings.weight[53:], rows) and torch.equal(model.output.weight[53:], rows)
    with pytest.raises(ValueError, match="only grows"):
        resize_vocab(model, 10)
    with pytest.raises(ValueError, match="one entry per new row"):
        resize_vocab(model, 57, [[1]])


def test_extension_keeps_old_logits_and_cuts_fertility(world):
    base, tok, ext = world["model"], world["tok"], world["ext"]
    assert ext.added == 40 and ext.tokenizer.vocab_size == 340 and ext.old_vocab_size == 300
    assert ext.init == "calibrated" and torch.equal(ext.model.tok_embeddings.weight[:300], base.tok_embeddings.weight)
    text = "Once upon a time, Lily had a kite."
    ids = torch.tensor([tok.encode(text)])
    assert ext.tokenizer.encode(text) == tok.encode(text)
    assert torch.equal(ext.model(ids).logits[..., :300], base(ids).logits)
    docs = chinese(50, seed=9)
    before, after = fertility(tok, docs), fertility(ext.tokenizer, docs)
    assert before["tokens_per_char"] > 2.5 and after["tokens_per_char"] < before["tokens_per_char"] / 2
    assert fertility(ext.tokenizer, english(20))["tokens"] == fertility(tok, english(20))["tokens"]


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("init", ["mean", "calibrated"])
def test_new_rows_follow_the_init_rule(world, tied, init):
    """mean: each new row is the mean of its byte pieces' rows (each matrix its own). calibrated: the
    same mean, each row (in both matrices) moved along the base model's mean hidden state h on the corpus
    until h . row = log Z + log f (f: the piece's add-one frequency in the corpus)."""
    tok, texts = world["tok"], chinese(300)
    base = noisy_model(2, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=300, max_seq_len=64,
                       multiple_of=16, tie_embeddings=tied)
    ext = extend_vocabulary(copy.deepcopy(base), tok, texts, 40, init=init, num_threads=1)
    new, emb0, out0 = ext.tokenizer, base.tok_embeddings.weight.detach(), base.output.weight.detach()
    emb, out = ext.model.tok_embeddings.weight.detach(), ext.model.output.weight.detach()
    assert torch.equal(emb[:300], emb0) and torch.equal(out[:300], out0)
    if init == "calibrated":  # h and log Z over the first CALIBRATION_TOKENS byte-fallback tokens, 64 a window
        ids = [i for t in texts for i in tok.encode(t)][:CALIBRATION_TOKENS]
        with torch.no_grad():
            res = base(torch.tensor(ids[:len(ids) // 64 * 64]).view(-1, 64))
        h, log_z = res.hidden.mean((0, 1)), torch.logsumexp(res.logits, -1).mean()
        counts = Counter(i for t in texts for i in new.encode(t, bos=False))
        total = sum(counts.values()) + new.vocab_size
    checked = 0
    for i in range(300, 340):
        piece = new.id_to_piece(i)
        if not all(ord(c) > 127 for c in piece):  # only pieces the English tokenizer spells as UTF-8 bytes
            continue
        byte_ids = [tok.piece_to_id(f"<0x{b:02X}>") for b in piece.encode("utf-8")]
        emb_mean, out_mean = emb0[byte_ids].mean(0), out0[byte_ids].mean(0)
        if init == "mean":
            torch.testing.assert_close(emb[i], emb_mean)
            torch.testing.assert_close(out[i], out_mean)
        else:  # both matrices (one when tied): the mean moved along h only, to h . row = log Z + log f
            for row, mean in ((out[i], out_mean), (emb[i], emb_mean)):
                moved = row - mean
                torch.testing.assert_close(moved, (moved @ h) / (h @ h) * h, atol=1e-5, rtol=1e-4)
                torch.testing.assert_close(row @ h, log_z + math.log((counts[i] + 1) / total), atol=1e-4, rtol=1e-4)
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize("tied", [True, False])
def test_calibrated_rows_start_no_worse_than_random_rows(world, tmp_path, tied):
    """A tiny model trained on English, extended for Chinese: bits per byte on held-out Chinese before any
    training are finite and no higher than with random N(0, 0.02) new rows (three draws)."""
    root, tok = world["root"], world["tok"]
    res = train(load_config(None, [
        f"data.data_dir={root / 'en_base'}", f"train.run_dir={tmp_path / 'run'}", "model.dim=32", "model.n_layers=2",
        "model.n_heads=4", "model.n_kv_heads=2", "model.multiple_of=16", f"model.tie_embeddings={str(tied).lower()}",
        "data.seq_len=32", "data.batch_size=8", "optim.max_steps=150", "optim.lr=3e-3", "optim.warmup_steps=10",
        "train.eval_every=0", "train.eval_batches=1", "train.save_every=0", "train.num_samples=0",
        "train.device=cpu"]), quiet=True)
    base = load_model_dir(res.model_dir, with_tokenizer=False)[0]
    assert base.config.tie_embeddings == tied
    held_out = tmp_path / "zh_test.jsonl"
    held_out.write_text("".join(json.dumps({"story": t}, ensure_ascii=False) + "\n" for t in chinese(40, seed=9)),
                        encoding="utf-8")

    def bpb(model, tokenizer):
        r = evaluate(model, tokenizer, held_out, field="story", context=32, stride=32)
        return r.nll / r.bytes / math.log(2)

    ext = extend_vocabulary(copy.deepcopy(base), tok, chinese(300), 40, num_threads=1)
    calibrated = bpb(ext.model, ext.tokenizer)
    randoms = []
    for seed in range(3):
        rows = torch.randn(40, 32, generator=torch.Generator().manual_seed(seed)) * 0.02
        randoms.append(bpb(resize_vocab(copy.deepcopy(base), 340, rows), ext.tokenizer))
    assert math.isfinite(calibrated) and calibrated <= min(randoms), (calibrated, randoms)


def test_extend_cli_writes_a_model_and_reports_fertility(world, tmp_path, capsys):
    root = world["root"]
    out = tmp_path / "ext"
    assert main(["extend", str(root / "base"), "--corpus", str(root / "zh.jsonl"), "--field", "story",
                 "--new-pieces", "100000", "--eval", str(root / "zh.jsonl"), "--out", str(out), "--threads", "1"]) == 0
    text = capsys.readouterr().out
    meta = json.loads((out / "config.json").read_text())
    added = meta["extended"]["added"]
    assert 0 < added < 100000 and f"supplies only {added} new pieces" in text
    assert meta["model"]["vocab_size"] == 300 + added == meta["tokenizer"]["vocab_size"]
    model, tok = load_model_dir(out)
    assert torch.equal(model.tok_embeddings.weight[:300], world["model"].tok_embeddings.weight)
    fert = meta["extended"]["fertility"][str(root / "zh.jsonl")]
    assert fert["after"]["tokens_per_char"] < fert["before"]["tokens_per_char"] / 2


def test_extend_bad_inputs(world, tmp_path, capsys):
    root = world["root"]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 ol\xe9\n".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    for corpus, needle in ((bad, "latin1.txt"), (empty, "empty")):
        out = tmp_path / f"out_{corpus.stem}"
        assert main(["extend", str(root / "base"), "--corpus", str(corpus), "--new-pieces", "10",
                     "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1 and not out.exists()
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "x").write_text("mine")
    assert main(["extend", str(root / "base"), "--corpus", str(root / "zh.jsonl"), "--field", "story",
                 "--new-pieces", "10", "--out", str(keep)]) == 2
    assert "--force" in capsys.readouterr().err and (keep / "x").read_text() == "mine"
    bpe = BPETokenizer(byte_level_bpe(english(50), 300, ["<s>", "</s>"]), bos_id=0, eos_id=1)
    model = noisy_model(0, dim=16, n_layers=1, n_heads=2, vocab_size=bpe.vocab_size, max_seq_len=16)
    with pytest.raises(BabyLlamaError, match="only a SentencePiece tokenizer .*llama2.c tokenizer.bin"):
        extend_vocabulary(model, bpe, chinese(10), 10)
    with pytest.raises(BabyLlamaError, match="init 'median': choose one of calibrated, mean"):
        extend_vocabulary(world["model"], world["tok"], chinese(10), 10, init="median")


# ---------------------------------------------------------------- mixtures

def test_mixture_proportions_and_ranks(world):
    root = world["root"]
    srcs = [(root / "zh_ext", 0.6), (root / "en_ext", 0.3), (root / "zh_ext", 0.1)]
    loader = MixtureLoader(srcs, "train", 16, 16, seed=3)
    draws = np.concatenate([loader.draw(b) for b in range(2000)])
    for k, p in enumerate((0.6, 0.3, 0.1)):
        share = np.mean(draws == k)
        assert abs(share - p) < 5 * math.sqrt(p * (1 - p) / len(draws)), (k, share)
    one = MixtureLoader(srcs, "train", 4, 16, seed=3)
    ranks = [MixtureLoader(srcs, "train", 2, 16, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for _ in range(5):  # two ranks together see exactly the one-process batch
        x, y = one.next_batch()
        parts = [ld.next_batch() for ld in ranks]
        assert torch.equal(x, torch.cat([p[0] for p in parts])) and torch.equal(y, torch.cat([p[1] for p in parts]))
    # a source's windows come in its own order: the zh_ext=0.6 source alone reads like a TokenLoader
    solo = MixtureLoader([(root / "zh_ext", 1.0)], "train", 4, 16, seed=3)
    ref = solo.loaders[0]
    ref_ids = ref.window_ids(0, 8)
    got = torch.cat([solo.next_batch()[0] for _ in range(2)])
    want = np.stack([ref.stream.read(int(i) * 16, 16) for i in ref_ids])
    assert torch.equal(got, torch.from_numpy(want))


def test_mixture_bad_weights_and_folders(world, tmp_path):
    root = world["root"]
    for text, needle in ((f"{root / 'zh_ext'}=-0.5, {root / 'en_ext'}=1", "must be a finite number >= 0"),
                         (f"{root / 'zh_ext'}=0, {root / 'en_ext'}=0", "all weights are zero"),
                         (f"{tmp_path / 'nope'}=1", "nope is not a prepared data folder"),
                         (f"{root / 'zh_ext'}", "is not DIR=WEIGHT"),
                         (f"{root / 'zh_ext'}=lots", "is not a number")):
        with pytest.raises(BabyLlamaError, match=needle):
            parse_mixture(text)
    with pytest.raises(BabyLlamaError, match="different tokenizers"):
        MixtureLoader([(root / "zh_ext", 1), (root / "en_base", 1)], "train", 2, 8)


# ---------------------------------------------------------------- runs

def run_cfg(world, run_dir, *extra):
    root = world["root"]
    return load_config(None, [
        f"data.data_dir={root / 'zh_ext'}", f"data.mixture={root / 'zh_ext'}=0.8, {root / 'en_ext'}=0.2",
        f"data.val_sets=zh={root / 'zh_ext'}, en={root / 'en_ext'}", f"train.init_from={root / 'ext'}",
        f"train.run_dir={run_dir}", "data.seq_len=16", "data.batch_size=4", "optim.max_steps=8",
        "optim.warmup_steps=2", "optim.lr=3e-3", "train.log_every=1", "train.eval_every=4", "train.eval_batches=2",
        "train.save_every=0", "train.num_samples=0", "train.device=cpu", "model.dropout=0.1", *extra])


def test_mixture_run_resumes_bitwise_and_logs_each_set(world, tmp_path, capsys):
    extra = ("train.new_rows_only_steps=2", "optim.old_lr_scale=0.5")
    straight = train(run_cfg(world, tmp_path / "a", *extra))
    table = capsys.readouterr().err
    assert "validation set" in table and "zh" in table and "en" in table
    stopped = train(run_cfg(world, tmp_path / "b", *extra), quiet=True,
                    callbacks=[lambda step, rec: (_ for _ in ()).throw(KeyboardInterrupt) if step == 5 else None])
    assert stopped.interrupted and stopped.step == 5
    resumed = train(run_cfg(world, tmp_path / "b", *extra), resume=True)
    assert "validation set" in capsys.readouterr().err  # the table still has its step-0 values
    wa = load_model_dir(straight.model_dir, with_tokenizer=False)[0].state_dict()
    wb = load_model_dir(resumed.model_dir, with_tokenizer=False)[0].state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    recs = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in recs if "val/zh/bpb" in r]
    assert [r["step"] for r in evals] == [0, 4, 8]
    assert all(math.isfinite(r["val/en/bpb"]) and r["val/en/loss"] > 0 for r in evals)
    assert (tmp_path / "a" / "loss.png").stat().st_size > 0


def test_set_numbers_equal_babyllama_ppl(world, tmp_path, capsys):
    root = world["root"]
    res = train(run_cfg(world, tmp_path / "run", "optim.max_steps=4"), quiet=True)
    last = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    for name in ("zh", "en"):
        out = tmp_path / f"{name}.json"
        assert main(["ppl", str(res.model_dir), "--data", str(root / f"{name}_ext"), "--split", "val", "--context",
                     "16", "--stride", "16", "--max-tokens", str(2 * 4 * 16), "--out", str(out), "--quiet"]) == 0
        got = json.loads(out.read_text())
        assert got["bits_per_byte"] == pytest.approx(last[f"val/{name}/bpb"], rel=1e-12)
        assert got["mean_nll"] == pytest.approx(last[f"val/{name}/loss"], rel=1e-12)


def test_val_set_from_another_tokenizer_is_refused(world, tmp_path):
    root = world["root"]
    cfg = run_cfg(world, tmp_path / "run", f"data.val_sets=en={root / 'en_base'}")
    with pytest.raises(BabyLlamaError, match=r"data.val_sets: en \(.*en_base\) was tokenized with another"):
        train(cfg, quiet=True)
    assert not (tmp_path / "run").exists()
    with pytest.raises(BabyLlamaError, match="is not NAME=DIR"):
        train(run_cfg(world, tmp_path / "run", f"data.val_sets={root / 'en_ext'}"), quiet=True)
    cfg = run_cfg(world, tmp_path / "run", f"data.mixture={root / 'zh_ext'}=1, {root / 'en_base'}=1")
    with pytest.raises(BabyLlamaError, match="data.mixture: the data sets were tokenized with different"):
        train(cfg, quiet=True)
    assert not (tmp_path / "run").exists()


def test_stage_options_move_only_what_they_should(world, tmp_path):
    ext = load_model_dir(world["root"] / "ext", with_tokenizer=False)[0].state_dict()
    res = train(run_cfg(world, tmp_path / "frozen", "optim.max_steps=3", "train.new_rows_only_steps=3"), quiet=True)
    got = load_model_dir(res.model_dir, with_tokenizer=False)[0].state_dict()
    for k, v in ext.items():
        if k in ("tok_embeddings.weight", "output.weight"):  # tied: one matrix
            assert torch.equal(got[k][:300], v[:300]) and not torch.equal(got[k][300:], v[300:])
        else:
            assert torch.equal(got[k], v), k
    # old_lr_scale s: one AdamW step moves the old parameters s times as far (AdamW's moments ignore lr)
    deltas = {}
    for s in ("1.0", "0.25"):
        r = train(run_cfg(world, tmp_path / s, "optim.max_steps=1", "optim.warmup_steps=0", "model.dropout=0.0",
                          f"optim.old_lr_scale={s}"), quiet=True)
        w = load_model_dir(r.model_dir, with_tokenizer=False)[0].state_dict()
        deltas[s] = {k: w[k] - ext[k] for k in ext}
    for k in ext:
        old = slice(0, 300) if k in ("tok_embeddings.weight", "output.weight") else slice(None)
        torch.testing.assert_close(deltas["0.25"][k][old], 0.25 * deltas["1.0"][k][old], atol=1e-7, rtol=1e-5)
    new = slice(300, None)
    assert torch.equal(deltas["0.25"]["tok_embeddings.weight"][new], deltas["1.0"]["tok_embeddings.weight"][new])
    with pytest.raises(BabyLlamaError, match="was not made by `babyllama extend`"):
        train(run_cfg(world, tmp_path / "x", f"train.init_from={world['root'] / 'base'}", "optim.old_lr_scale=0.5",
                      f"data.data_dir={world['root'] / 'en_base'}", "data.mixture=", "data.val_sets="), quiet=True)
