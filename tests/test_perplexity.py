"""Sliding-window perplexity checked against naive references; bounded memory; inputs and errors."""
import argparse
import json
import math
import tracemalloc
import weakref

import numpy as np
import pytest
import torch

from babyllama.eval import perplexity as ppl
from babyllama.eval.perplexity import (Window, evaluate, iter_windows, perplexity_of_tokens, score_windows)
from babyllama.model import Llama, LlamaConfig
from babyllama.utils.io import BabyLlamaError


def tiny(vocab=50, max_seq_len=32, seed=0) -> Llama:
    torch.manual_seed(seed)
    return Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=vocab,
                             max_seq_len=max_seq_len, multiple_of=8)).eval()


def token_nll(model: Llama, context: list[int], target: int) -> float:
    with torch.no_grad():
        logits = model(torch.tensor([context])).logits[0, -1].double()
    return float(-logits.log_softmax(-1)[target])


def test_stride_equal_to_context_is_the_non_overlapping_computation():
    model = tiny()
    toks = torch.randint(0, 50, (101,)).tolist()
    res = perplexity_of_tokens(model, toks, context=16, stride=16, batch_size=3)
    nll, n = 0.0, 0
    for s in range(0, len(toks), 16):  # independent chunks; each chunk's first token has no context
        chunk = torch.tensor([toks[s:s + 16]])
        if chunk.shape[1] < 2:
            continue
        with torch.no_grad():
            logp = model(chunk).logits[0].double().log_softmax(-1)
        nll -= float(logp[:-1].gather(1, chunk[0, 1:, None]).sum())
        n += chunk.shape[1] - 1
    assert res.tokens == n
    assert res.nll == pytest.approx(nll, rel=1e-6)


@pytest.mark.parametrize("context, stride", [(16, 4), (16, 7), (8, 1), (32, 16)])
def test_small_stride_matches_a_token_by_token_reference(context, stride):
    model = tiny()
    toks = torch.randint(0, 50, (90,)).tolist()
    res = perplexity_of_tokens(model, toks, context=context, stride=stride, batch_size=4)
    # every token p >= 1 is scored once, from the start of the first window that ends after it
    nll = 0.0
    for p in range(1, len(toks)):
        w = 0 if p < context else -(-(p + 1 - context) // stride)  # ceil((p + 1 - context) / stride)
        begin = w * stride
        nll += token_nll(model, toks[begin:p], toks[p])
    assert res.tokens == len(toks) - 1
    assert res.nll == pytest.approx(nll, rel=1e-5)
    assert res.perplexity == pytest.approx(math.exp(nll / (len(toks) - 1)), rel=1e-5)


def test_batch_size_and_chunking_do_not_change_the_result():
    model = tiny()
    toks = np.random.default_rng(1).integers(0, 50, 300)
    a = perplexity_of_tokens(model, toks.tolist(), context=32, stride=8, batch_size=1)
    chunks = [toks[i:i + 7] for i in range(0, len(toks), 7)]
    b = perplexity_of_tokens(model, iter(chunks), context=32, stride=8, batch_size=16)
    assert (a.tokens, a.windows) == (b.tokens, b.windows)
    assert a.nll == pytest.approx(b.nll, rel=1e-6)


def test_windows_are_lazy_and_bounded():
    """Tokens are pulled only as windows need them, and at most batch_size windows are alive."""
    consumed = []

    def chunks():
        for i in range(0, 50_000, 100):
            consumed.append(i + 100)
            yield np.arange(i, i + 100) % 50

    context, stride = 256, 128
    gen = iter_windows(chunks(), context, stride)
    for k in range(5):
        next(gen)
        assert consumed[-1] <= k * stride + context + 100
    alive: weakref.WeakSet = weakref.WeakSet()
    peak = 0

    class Holder:  # numpy arrays cannot be weakly referenced; wrap each window
        def __init__(self, w):
            self.w = w

    def tracked():
        nonlocal peak
        for w in iter_windows(chunks(), context, stride):
            h = Holder(w)
            alive.add(h)
            peak = max(peak, len(alive))
            yield h.w
            del h

    model = tiny(max_seq_len=256)
    nll, n, windows = score_windows(model, tracked(), batch_size=8)
    assert n == 50_000 - 1 and windows == -(-(50_000 - 256) // 128) + 1
    assert peak <= 8 + 1


def test_memory_does_not_grow_with_corpus_length():
    model = tiny(max_seq_len=64)

    def peak(n_tokens):
        def chunks():
            rng = np.random.default_rng(0)
            for _ in range(n_tokens // 1000):
                yield rng.integers(0, 50, 1000)

        tracemalloc.start()
        perplexity_of_tokens(model, chunks(), context=64, stride=32, batch_size=16)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, big = peak(4_000), peak(20_000)
    assert big < small * 1.5 + 200_000


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from babyllama.checkpoint import save_model
    from babyllama.tokenizers import train_tokenizer

    d = tmp_path_factory.mktemp("ppl")
    docs = [f"Story {i}: once upon a time a little dog named Spot ran to the park and met Lily. "
            f"They played with a red ball. Ça va? Да." for i in range(30)]
    tok = train_tokenizer(docs, 320)
    model = tiny(vocab=tok.vocab_size, max_seq_len=64)
    save_model(model, d / "model", tok)
    (d / "docs.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    with open(d / "docs.jsonl", "w", encoding="utf-8") as f:
        for t in docs:
            f.write(json.dumps({"story": t}, ensure_ascii=False) + "\n")
    return d, model, tok, docs


def test_document_and_stream_modes_on_text_and_jsonl(assets):
    d, model, tok, docs = assets
    per = []
    res = evaluate(model, tok, d / "docs.txt", mode="document", context=32, stride=16, batch_size=5,
                   on_document=lambda i, s, n: per.append((i, s, n)))
    ref_nll, ref_n = 0.0, 0
    for i, text in enumerate(docs):
        ids = tok.encode(text)
        r = perplexity_of_tokens(model, ids, context=32, stride=16)
        ref_nll += r.nll
        ref_n += r.tokens
        assert per[i][0] == i and per[i][1] == pytest.approx(r.nll, rel=1e-6) and per[i][2] == r.tokens
    nbytes = sum(len(t.encode("utf-8")) for t in docs)
    assert (res.tokens, res.bytes, res.documents) == (ref_n, nbytes, len(docs))
    assert res.nll == pytest.approx(ref_nll, rel=1e-6)
    assert res.bits_per_byte == pytest.approx(ref_nll / math.log(2) / nbytes)
    js = evaluate(model, tok, d / "docs.jsonl", mode="document", context=32, stride=16, field="story")
    assert js.nll == pytest.approx(res.nll, rel=1e-6)
    stream = evaluate(model, tok, d / "docs.txt", mode="stream", context=32, stride=16)
    all_ids = [t for text in docs for t in tok.encode(text)]
    ref = perplexity_of_tokens(model, all_ids, context=32, stride=16)
    assert stream.tokens == ref.tokens and stream.nll == pytest.approx(ref.nll, rel=1e-6)
    whole = evaluate(model, tok, d / "docs.txt", fmt="whole", context=32, stride=16)
    text = (d / "docs.txt").read_text(encoding="utf-8")
    ref = perplexity_of_tokens(model, tok.encode(text), context=32, stride=16)
    assert whole.nll == pytest.approx(ref.nll, rel=1e-6) and whole.bytes == len(text.encode("utf-8"))


def test_prepared_shards_use_the_manifest_bytes(assets):
    from babyllama.data.prepare import prepare

    d, model, tok, docs = assets
    m = prepare([str(d / "docs.txt")], d / "prep", tok, val_docs=10, progress=False)
    res = evaluate(model, tok, d / "prep", split="val", mode="document", context=32, stride=16)
    assert res.bytes == m["splits"]["val"]["bytes"] and res.documents == m["splits"]["val"]["documents"]
    stream = evaluate(model, tok, d / "prep", split="val", context=32, stride=16)
    assert stream.tokens == m["splits"]["val"]["tokens"] - 1


def test_cli_and_bad_inputs(assets, tmp_path, capsys):
    d, model, tok, docs = assets

    def run(*argv):
        from babyllama.cli import ppl as ppl_cli

        p = argparse.ArgumentParser()
        ppl_cli.add_arguments(p)
        return ppl_cli.run(p.parse_args([str(d / "model"), *argv]))

    out, per = tmp_path / "r.json", tmp_path / "docs.jsonl"
    assert run("--data", str(d / "docs.txt"), "--context", "32", "--stride", "16", "--mode", "document",
               "--out", str(out), "--per-doc-out", str(per), "--quiet") == 0
    r = json.loads(out.read_text())
    assert r["tokens"] > 0 and r["perplexity"] == pytest.approx(math.exp(r["mean_nll"]))
    assert len(per.read_text().splitlines()) == len(docs)
    assert "perplexity" in capsys.readouterr().out
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(BabyLlamaError, match="empty"):
        run("--data", str(empty))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello\n\xff\xfe\n")
    with pytest.raises(BabyLlamaError, match="UTF-8"):
        run("--data", str(bad))
    with pytest.raises(BabyLlamaError, match="UTF-8"):
        run("--data", str(bad), "--format", "whole")
    with pytest.raises(BabyLlamaError, match="stride"):
        run("--data", str(d / "docs.txt"), "--context", "16", "--stride", "32")
    with pytest.raises(BabyLlamaError, match="max_seq_len"):
        run("--data", str(d / "docs.txt"), "--context", "128")
    with pytest.raises(BabyLlamaError, match="field"):
        run("--data", str(d / "docs.jsonl"), "--field", "nope")
    with pytest.raises(BabyLlamaError, match="not found"):
        run("--data", str(tmp_path / "missing.txt"))


def test_zero_stride_or_context_is_refused_not_replaced(assets):
    d, model, tok, docs = assets
    with pytest.raises(BabyLlamaError, match=r"--stride 0"):
        evaluate(model, tok, d / "docs.txt", context=32, stride=0)
    with pytest.raises(BabyLlamaError, match=r"--context 0"):
        evaluate(model, tok, d / "docs.txt", context=0)
    with pytest.raises(BabyLlamaError, match=r"--stride 0"):
        perplexity_of_tokens(model, list(range(40)), context=16, stride=0)


def test_cli_bad_stride_device_and_damaged_parquet_are_one_line_errors(assets, tmp_path, capsys):
    from babyllama.cli import main

    def ppl_cli(*argv: str) -> tuple[int, str]:
        rc = main(["ppl", *argv])
        return rc, capsys.readouterr().err

    d, model, tok, docs = assets
    base = [str(d / "model"), "--data", str(d / "docs.txt"), "--quiet"]
    for argv, fragment in ((["--stride", "0"], "--stride 0"), (["--device", "foo"], "--device"),
                           (["--device", "cuda:99"], "--device")):
        rc, err = ppl_cli(*base, *argv)
        assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    if not torch.cuda.is_available():
        rc, err = ppl_cli(*base, "--device", "cuda")
        assert rc == 2 and "CUDA" in err and len(err.strip().splitlines()) == 1, err
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": docs}), bad)
    raw = bytearray(bad.read_bytes())
    end = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")  # the footer starts here; it stays intact
    raw[4:end] = bytes(b ^ 0xA5 for b in raw[4:end])  # every data page damaged
    bad.write_bytes(bytes(raw))
    rc, err = ppl_cli(str(d / "model"), "--data", str(bad), "--quiet")
    assert rc == 2 and str(bad) in err and len(err.strip().splitlines()) == 1, err


def test_shards_from_another_tokenizer_are_refused(assets, tmp_path):
    from babyllama.data.prepare import prepare
    from babyllama.tokenizers import train_tokenizer

    d, model, tok, docs = assets
    other = train_tokenizer([t[::-1] for t in docs], 320)
    prepare([str(d / "docs.txt")], tmp_path / "prep", other, val_docs=5, progress=False)
    with pytest.raises(BabyLlamaError, match="another tokenizer"):
        evaluate(model, tok, tmp_path / "prep")


def test_single_window_matches_the_model_loss():
    model = tiny()
    toks = torch.randint(0, 50, (1, 20))
    with torch.no_grad():
        ref = torch.nn.functional.cross_entropy(model(toks).logits[0, :-1], toks[0, 1:])
    (s, n), = ppl.score_batch(model, [Window(toks[0].numpy(), 1)])
    assert n == 19 and s / n == pytest.approx(float(ref), rel=1e-5)
