"""The generation engine checked against independent references (full recomputation, brute force)."""
import argparse
import io
import itertools
import json
import math

import pytest
import torch

from babyllama.eval.textstats import repeated_ngram_rate
from babyllama.cli.common import read_prompts
from babyllama.decode import GenerationConfig, SettingError, generate
from babyllama.decode.beam import beam_search
from babyllama.decode.processors import filter_min_p, filter_top_k, filter_top_p, sample_from
from babyllama.decode.steps import Row, stop_token_set
from babyllama.model import KVCache, Llama, LlamaConfig
from babyllama.utils.io import BabyLlamaError


class ByteTok:
    """Bytes as tokens (id = byte + 3), with pad 0, BOS 1, EOS 2: exact, and splits UTF-8 characters."""

    pad_id, bos_id, eos_id, vocab_size = 0, 1, 2, 259

    def encode(self, text, bos=True, eos=False):
        return ([1] if bos else []) + [b + 3 for b in text.encode("utf-8")] + ([2] if eos else [])

    def decode(self, ids):
        return bytes(i - 3 for i in ids if i >= 3).decode("utf-8", errors="replace")


def tiny(vocab=259, seed=0, **kw) -> Llama:
    torch.manual_seed(seed)
    base = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=vocab, max_seq_len=96, multiple_of=8)
    base.update(kw)
    model = Llama(LlamaConfig(**base)).eval()
    with torch.no_grad():  # larger weights than the init so the distribution is far from uniform
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(4.0)
    return model


def bigram_model(logits: torch.Tensor) -> Llama:
    """A Llama whose next-token logits depend only on the current token: logits[t] (V x V)."""
    V = logits.shape[0]
    D = (V + 3) // 4 * 4  # state size: one-hot in the first V dims
    model = Llama(LlamaConfig(dim=D, n_layers=1, n_heads=2, vocab_size=V, hidden_dim=8, max_seq_len=128,
                              tie_embeddings=False)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.tok_embeddings.weight.copy_(torch.eye(V, D))  # one-hot states
        model.norm.weight.fill_(1.0 / math.sqrt(D))  # RMSNorm(one-hot) * weight = one-hot
        model.layers[0].attention_norm.weight.fill_(1.0)
        model.layers[0].ffn_norm.weight.fill_(1.0)  # wo and w2 are zero: the block adds nothing
        model.output.weight[:, :V].copy_(logits.t())
    return model


def reference_greedy(model: Llama, ids: list[int], n: int) -> list[int]:
    """Greedy decoding by recomputing the whole sequence each step (no cache)."""
    seq = list(ids)
    for _ in range(n):
        with torch.no_grad():
            seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    return seq[len(ids):]


def sequence_logprob(model: Llama, prompt: list[int], out: list[int]) -> float:
    return sequence_logprobs(model, prompt, [out])[0]


def sequence_logprobs(model: Llama, prompt: list[int], outs: list[list[int]]) -> list[float]:
    """log p(out | prompt) of each continuation (all of one length), from one full forward pass."""
    with torch.no_grad():
        logp = model(torch.tensor([prompt + out for out in outs])).logits.log_softmax(-1)
    return [sum(float(logp[r, len(prompt) - 1 + i, t]) for i, t in enumerate(out)) for r, out in enumerate(outs)]


PROMPTS = ["Hi", "Once upon a time, there was", "Tim and Lily were playing.", "A"]


def test_greedy_with_cache_equals_full_recomputation():
    model, tok = tiny(), ByteTok()
    for p in PROMPTS[:2]:
        ids = tok.encode(p)
        res = generate(model, None, [ids], max_new_tokens=64, ignore_eos=True)[0]
        assert res.tokens == reference_greedy(model, ids, 64)
        assert res.finish_reason == "length"


def test_decode_step_matches_model_forward():
    model = tiny()
    cfg = model.config
    seq = torch.randint(3, cfg.vocab_size, (3, 20))
    with torch.no_grad():
        full = model(seq).logits
        cache = KVCache(cfg, 3, 32)
        model(seq[:, :10], kv_cache=cache)
        for t in range(10, 20):
            got = model.decode_step(seq[:, t], torch.full((3,), t), cache)
            torch.testing.assert_close(got, full[:, t], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("index", [[2, 0, 1], [1, 1, 1], [2, 0, 0, 1]])
def test_kv_cache_reorder_equals_rerunning_the_reordered_prompts(index):
    model = tiny()
    cfg = model.config
    torch.manual_seed(1)
    seq = torch.randint(3, cfg.vocab_size, (3, 12))
    idx = torch.tensor(index)
    with torch.no_grad():
        want = model(seq[idx]).logits  # the reordered rows from scratch, no cache
        cache = KVCache(cfg, 3, 16)
        model(seq[:, :9], kv_cache=cache)
        cache.reorder(idx)
        assert cache.length == 9 and cache.k.shape[1] == len(index)
        got = model.decode_step(seq[idx, 9], torch.full((len(index),), 9), cache)  # the fused step
        torch.testing.assert_close(got, want[:, 9], rtol=1e-4, atol=1e-4)
        got = model(seq[idx, 10:12], kv_cache=cache).logits  # and Llama.forward on the same cache
        torch.testing.assert_close(got, want[:, 10:12], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fast", [True, False])
def test_batched_left_padded_equals_one_by_one(fast):
    model, tok = tiny(), ByteTok()
    cfg = GenerationConfig(max_new_tokens=24, ignore_eos=True, logprobs=True)
    together = generate(model, tok, PROMPTS, cfg, batch_size=8, fast=fast)
    for p, r in zip(PROMPTS, together):
        alone = generate(model, tok, [p], cfg, fast=fast)[0]
        assert r.prompt == p and r.tokens == alone.tokens and r.text == alone.text
        assert r.logprobs == pytest.approx(alone.logprobs, abs=1e-4)


def test_top_k_1_and_tiny_top_p_equal_greedy():
    model, tok = tiny(), ByteTok()
    greedy = generate(model, tok, PROMPTS, max_new_tokens=20, ignore_eos=True)
    for extra in ({"top_k": 1}, {"top_p": 1e-9}, {"min_p": 1.0}):
        sampled = generate(model, tok, PROMPTS, max_new_tokens=20, ignore_eos=True, temperature=1.3, seed=5, **extra)
        assert [r.tokens for r in sampled] == [r.tokens for r in greedy], extra


def test_beam_one_equals_greedy_and_wider_beams_are_at_least_as_likely():
    model, tok = tiny(), ByteTok()
    for p in PROMPTS[:3]:
        ids = tok.encode(p)
        greedy = generate(model, None, [ids], max_new_tokens=12, ignore_eos=True)[0]
        cfg1 = GenerationConfig(max_new_tokens=12, ignore_eos=True, num_beams=1)
        one = beam_search(model, Row(ids, 12, "length"), cfg1, set(), None, 0, True)[0]
        assert one.tokens == greedy.tokens
        g = sequence_logprob(model, ids, greedy.tokens)
        for k in (2, 4):
            best = generate(model, None, [ids], max_new_tokens=12, ignore_eos=True, num_beams=k,
                            length_penalty=0.0)[0]
            lp = sequence_logprob(model, ids, best.tokens)
            assert lp >= g - 1e-4
            assert best.score == pytest.approx(lp, abs=1e-3)


def test_beam_search_with_enough_beams_is_exhaustive():
    torch.manual_seed(3)
    V = 6
    model = tiny(vocab=V, seed=3, max_seq_len=16)
    prompt = [1, 4]
    res = generate(model, None, [prompt], max_new_tokens=3, ignore_eos=True, num_beams=V * V, length_penalty=0.0,
                   num_return_sequences=3)
    seqs = [list(s) for s in itertools.product(range(V), repeat=3)]
    brute = sorted(zip(sequence_logprobs(model, prompt, seqs), seqs), reverse=True)
    assert [r.tokens for r in res] == [s for _, s in brute[:3]]


def test_beam_search_stops_at_eos_and_returns_sorted_hypotheses():
    # every hypothesis that ends at the stop token (its log-prob counted) or runs to max_new_tokens,
    # scored by full forward passes: an exhaustive beam must return the best of them, in order
    V, prompt, n = 6, [1, 4], 3
    model = tiny(vocab=V, seed=3, max_seq_len=16)
    for stop in (1, 3):
        words = [t for t in range(V) if t != stop]
        hand = []
        for m in range(n + 1):
            seqs = [list(s) for s in itertools.product(words, repeat=m)]
            ends = [s + [stop] for s in seqs] if m < n else seqs
            hand += zip(sequence_logprobs(model, prompt, ends), seqs, ["stop" if m < n else "length"] * len(seqs))
        hand.sort(key=lambda h: h[0], reverse=True)
        res = generate(model, None, [prompt], max_new_tokens=n, num_beams=V * V, length_penalty=0.0,
                       num_return_sequences=4, stop_token_ids=(stop,))
        assert [(r.tokens, r.finish_reason) for r in res] == [(s, why) for _, s, why in hand[:4]]
        assert [r.score for r in res] == pytest.approx([lp for lp, _, _ in hand[:4]], abs=1e-4)
        assert {r.finish_reason for r in res} == {"stop", "length"}
    # length_penalty 1: the score is the mean log-prob per generated token, the stop token included
    res = generate(model, None, [prompt], max_new_tokens=n, num_beams=4, num_return_sequences=4, stop_token_ids=(1,))
    for r in res:
        ends = r.tokens + ([1] if r.finish_reason == "stop" else [])
        assert r.score == pytest.approx(sequence_logprob(model, prompt, ends) / len(ends), abs=1e-4)


def looping_bigram() -> Llama:
    """Greedy loops 3->4->5->6->3; every other token is a close second choice."""
    V = 24
    logits = torch.full((V, V), -5.0)
    for t in range(V):
        for j in range(3, V):
            logits[t, j] = 1.0 + 0.01 * ((j * 7) % 11)
        logits[t, 3 + (t - 3 + 1) % 4 if 3 <= t < 7 else 3] = 2.0
    return bigram_model(logits)


def test_repetition_penalty_lowers_repeated_ngrams_on_a_looping_model():
    model = looping_bigram()
    greedy = generate(model, None, [[1, 3]], max_new_tokens=40)[0].tokens
    penal = generate(model, None, [[1, 3]], max_new_tokens=40, repetition_penalty=2.5)[0].tokens
    assert repeated_ngram_rate(greedy, 4) > 0.8
    assert repeated_ngram_rate(penal, 4) < repeated_ngram_rate(greedy, 4) - 0.3
    # frequency penalty and no-repeat-ngram help too
    freq = generate(model, None, [[1, 3]], max_new_tokens=40, frequency_penalty=0.6)[0].tokens
    assert repeated_ngram_rate(freq, 4) < repeated_ngram_rate(greedy, 4)
    nr = generate(model, None, [[1, 3]], max_new_tokens=15, no_repeat_ngram_size=2)[0].tokens
    seq = [1, 3] + nr
    bigrams = list(zip(seq, seq[1:]))
    assert len(bigrams) == len(set(bigrams))


def test_penalty_and_filter_formulas():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0]])
    from babyllama.decode.processors import apply_presence_frequency, apply_repetition_penalty

    seen = torch.tensor([[True, True, False, False, False]])
    got = apply_repetition_penalty(logits, seen, 2.0)
    assert got.tolist() == [[1.0, -2.0, 0.5, 3.0, -2.0]]
    counts = torch.tensor([[0.0, 2.0, 1.0, 0.0, 0.0]])
    got = apply_presence_frequency(logits, counts, 0.5, 0.25)
    assert got.tolist() == [[2.0, -1.0 - 0.5 - 0.5, 0.5 - 0.5 - 0.25, 3.0, -2.0]]
    assert torch.isinf(filter_top_k(logits, 2)).tolist() == [[False, True, True, False, True]]
    # probabilities: 3 (0.678), 0 (0.249), 2 (0.056), 1 (0.012), 4 (0.005); relative to the top: 1, 0.368,
    # 0.082, 0.018, 0.007
    keep = torch.isfinite(filter_top_p(logits, 0.7))[0].tolist()
    assert keep == [True, False, False, True, False]
    assert torch.isfinite(filter_top_p(logits, 0.95))[0].tolist() == [True, False, True, True, False]
    assert torch.isfinite(filter_min_p(logits, 0.1))[0].tolist() == [True, False, False, True, False]
    assert torch.isfinite(filter_min_p(logits, 0.05))[0].tolist() == [True, False, True, True, False]


def test_sampling_follows_the_distribution_and_seeds_reproduce():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(20000, 1)
    g = torch.Generator().manual_seed(0)
    draws = sample_from(logits, g)
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2]), atol=0.015)
    model, tok = tiny(), ByteTok()
    a = generate(model, tok, PROMPTS, max_new_tokens=16, temperature=1.0, seed=7)
    b = generate(model, tok, PROMPTS, max_new_tokens=16, temperature=1.0, seed=7)
    c = generate(model, tok, PROMPTS, max_new_tokens=16, temperature=1.0, seed=8)
    assert [r.tokens for r in a] == [r.tokens for r in b]
    assert [r.tokens for r in a] != [r.tokens for r in c]


def test_num_return_sequences_and_order():
    model, tok = tiny(), ByteTok()
    res = generate(model, tok, PROMPTS[:2], max_new_tokens=8, temperature=1.0, seed=1, num_return_sequences=3)
    assert [(r.prompt_index, r.sample_index) for r in res] == [(i, j) for i in range(2) for j in range(3)]


def test_logprobs_and_entropies_match_full_forward():
    model, tok = tiny(), ByteTok()
    r = generate(model, tok, ["Once"], max_new_tokens=10, temperature=1.0, seed=2, logprobs=True, ignore_eos=True)[0]
    with torch.no_grad():
        logp = model(torch.tensor([r.prompt_tokens + r.tokens])).logits[0].log_softmax(-1)
    P = len(r.prompt_tokens)
    for i, t in enumerate(r.tokens):
        assert r.logprobs[i] == pytest.approx(float(logp[P - 1 + i, t]), abs=1e-4)
        ent = float(-(logp[P - 1 + i].exp() * logp[P - 1 + i]).sum())
        assert r.entropies[i] == pytest.approx(ent, abs=1e-4)


def utf8_loop() -> Llama:
    """Loops over the bytes of 'é' (C3 A9) then ' ' so characters are split across tokens."""
    V = 259
    logits = torch.full((V, V), -10.0)
    nxt = {1: 0xC3 + 3, 0xC3 + 3: 0xA9 + 3, 0xA9 + 3: 0x20 + 3, 0x20 + 3: 0xC3 + 3}
    for a, b in nxt.items():
        logits[a, b] = 10.0
    logits[3:, 0xC3 + 3] = 5.0
    return bigram_model(logits)


def test_stop_tokens_and_strings():
    model, tok = utf8_loop(), ByteTok()
    r = generate(model, tok, [[1]], max_new_tokens=20, stop_token_ids=(0x20 + 3,))[0]
    assert r.finish_reason == "stop" and r.text == "é" and r.tokens == [0xC3 + 3, 0xA9 + 3]
    r = generate(model, tok, [[1]], max_new_tokens=20, stop=("é é",))[0]
    assert r.finish_reason == "stop" and r.text == ""
    r = generate(model, tok, [[1]], max_new_tokens=20, stop=(" é",))[0]
    assert r.text == "é"
    r = generate(model, tok, [[1]], max_new_tokens=8)[0]
    assert r.text == "é é é" and r.finish_reason == "length"
    r = generate(model, tok, [[1]], max_new_tokens=7)[0]  # ends inside a character
    assert r.text == "é é \ufffd"


def test_streaming_concatenates_to_text_and_never_splits_characters():
    model, tok = utf8_loop(), ByteTok()
    pieces: list[tuple[int, str]] = []
    res = generate(model, tok, [[1], [1, 3 + ord("a")]], max_new_tokens=11, stream=lambda i, s: pieces.append((i, s)))
    for i, r in enumerate(res):
        mine = [s for j, s in pieces if j == i]
        assert "".join(mine) == r.text and len(mine) > 2
        assert all("\ufffd" not in s for s in mine)
    pieces.clear()
    res = generate(model, tok, [[1]], max_new_tokens=30, stop=(" é é",), stream=lambda i, s: pieces.append((i, s)))
    assert "".join(s for _, s in pieces) == res[0].text == "é"


def test_stream_with_a_real_sentencepiece_tokenizer_keeps_spaces():
    from babyllama.tokenizers import train_tokenizer

    docs = ["Once upon a time there was a little dog named Spot. He liked to run in the park."] * 40 + \
           ["Tim and Lily were playing with a big red ball. Lily was happy."] * 40
    tok = train_tokenizer(docs, 320)
    model = tiny(vocab=tok.vocab_size)
    pieces: list[str] = []
    r = generate(model, tok, ["Once upon a"], max_new_tokens=20, temperature=1.0, seed=0, ignore_eos=True,
                 stream=lambda i, s: pieces.append(s))[0]
    assert "".join(pieces) == r.text
    assert tok.decode(r.prompt_tokens + r.tokens) == "Once upon a" + r.text


def test_context_limit_and_truncation():
    model, tok = tiny(max_seq_len=40), ByteTok()
    r = generate(model, tok, ["x" * 30], max_new_tokens=50, ignore_eos=True)[0]
    assert r.finish_reason == "context" and len(r.prompt_tokens) + len(r.tokens) == 40
    with pytest.warns(UserWarning, match="longer than the context"):
        r = generate(model, tok, ["y" * 60], max_new_tokens=10, ignore_eos=True)[0]
    assert r.prompt_tokens[0] == tok.bos_id and len(r.prompt_tokens) == 30 and len(r.tokens) == 10
    with pytest.raises(BabyLlamaError, match="prompt 0"):
        generate(model, tok, ["y" * 60], max_new_tokens=10, truncate="error")


@pytest.mark.parametrize("fast", [True, False])
def test_rows_reaching_the_context_end_at_different_steps_match_running_alone(fast):
    # prompts of 11, 21 and 23 tokens (BOS included) in one batch, context 40, 25 new tokens: the first
    # stops at max_new_tokens, the others at the context end, two steps apart (this used to raise
    # IndexError in the fast step's rotary table once the earliest row passed the context end)
    model, tok = tiny(max_seq_len=40), ByteTok()
    prompts = ["a" * 10, "bc" * 10, "d" * 22]
    together = generate(model, tok, prompts, max_new_tokens=25, ignore_eos=True, fast=fast)
    assert [r.finish_reason for r in together] == ["length", "context", "context"]
    assert [len(r.prompt_tokens) + len(r.tokens) for r in together] == [36, 40, 40]
    for p, r in zip(prompts, together):
        alone = generate(model, tok, [p], max_new_tokens=25, ignore_eos=True, fast=fast)[0]
        assert r.tokens == alone.tokens and r.finish_reason == alone.finish_reason


@pytest.mark.parametrize("bad, name", [
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"num_beams": 0}, "num_beams"),
    ({"temperature": -1.0}, "temperature"), ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"num_beams": 2, "temperature": 0.5}, "temperature"), ({"num_beams": 2, "num_return_sequences": 3},
                                                            "num_return_sequences"),
    ({"num_return_sequences": 2}, "num_return_sequences"), ({"repetition_penalty": 0.0}, "repetition_penalty"),
    ({"min_p": 2.0}, "min_p"), ({"top_k": -1}, "top_k"), ({"stop": ("",)}, "stop"), ({"truncate": "right"}, "truncate"),
])
def test_invalid_settings_name_the_setting(bad, name):
    with pytest.raises(SettingError, match=name) as e:
        GenerationConfig(**bad)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


def test_bad_inputs():
    model, tok = tiny(), ByteTok()
    with pytest.raises(SettingError, match="empty"):
        generate(model, tok, [""], add_bos=False)
    with pytest.raises(SettingError, match="outside the vocabulary"):
        generate(model, tok, ["a"], stop_token_ids=(999,))
    with pytest.raises(SettingError, match="unknown generation setting"):
        generate(model, tok, ["a"], temprature=1.0)
    with pytest.raises(SettingError, match="beam"):
        generate(model, tok, ["a"], num_beams=2, stream=lambda i, s: None)
    with pytest.raises(BabyLlamaError, match="vocab_size"):
        generate(tiny(vocab=100), tok, ["a"])
    # an empty prompt with BOS is unconditional generation from BOS
    assert generate(model, tok, [""], max_new_tokens=3, ignore_eos=True)[0].prompt_tokens == [tok.bos_id]


# ---- model folder, loading and CLI -------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from babyllama.checkpoint import save_model
    from babyllama.tokenizers import train_tokenizer

    docs = ["Once upon a time there was a little dog named Spot. He liked to run in the park."] * 40 + \
           ["Tim and Lily were playing with a big red ball. Lily was happy."] * 40
    d = tmp_path_factory.mktemp("gen")
    tok = train_tokenizer(docs, 320)
    model = tiny(vocab=tok.vocab_size, max_seq_len=64)
    save_model(model, d / "model", tok)
    other = train_tokenizer(docs[::-1] + ["zzz qqq xxx"] * 5, 320)
    other.save(d / "other.model")
    train_tokenizer(docs, 300).save(d / "small.model")
    return d


def _run(argv, monkeypatch=None, stdin=None):
    from babyllama.cli import generate as gen

    p = argparse.ArgumentParser()
    gen.add_arguments(p)
    args = p.parse_args(argv)
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return gen.run(args)


def test_load_refuses_mismatched_tokenizers(model_dir):
    from babyllama.loading import load

    model, tok = load(model_dir / "model")
    assert tok.vocab_size == model.config.vocab_size and not model.training
    with pytest.raises(BabyLlamaError, match="differs"):
        load(model_dir / "model", model_dir / "other.model")
    with pytest.raises(BabyLlamaError, match="vocab_size"):
        load(model_dir / "model", model_dir / "small.model")
    with pytest.raises(BabyLlamaError, match="no such file or folder"):
        load(model_dir / "nope")


def test_cli_writes_jsonl_and_reads_files_and_stdin(model_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.jsonl"
    threads = torch.get_num_threads()
    assert _run([str(model_dir / "model"), "--prompt", "Once upon", "--prompt", "Tim", "--max-new-tokens", "8",
                 "--temperature", "0.9", "--top-p", "0.9", "--seed", "1", "--num-return-sequences", "2",
                 "--logprobs", "--out", str(out), "--quiet"]) == 0
    assert torch.get_num_threads() == threads  # the small-model single-thread default is undone
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and rows[0]["config"]["top_p"] == 0.9
    assert all(len(r["logprobs"]) == len(r["tokens"]) for r in rows)
    pf = tmp_path / "p.txt"
    pf.write_text("Once upon\n\nTim and Lily\n")
    assert _run([str(model_dir / "model"), "--prompts-file", str(pf), "--max-new-tokens", "4", "--quiet"]) == 0
    assert capsys.readouterr().out.count("--- prompt") == 2
    assert _run([str(model_dir / "model"), "--max-new-tokens", "4", "--stream", "--quiet"], monkeypatch,
                stdin="Once\nTim\n") == 0
    text = capsys.readouterr().out
    assert text.startswith("Once") and "\nTim" in text


def test_cli_bad_inputs(model_dir, tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n")
    with pytest.raises(BabyLlamaError, match="no prompts"):
        _run([str(model_dir / "model"), "--prompts-file", str(empty)])
    bad = tmp_path / "b.txt"
    bad.write_bytes(b"\xff\xfe bad")
    with pytest.raises(BabyLlamaError, match="UTF-8"):
        read_prompts(bad)
    jl = tmp_path / "p.jsonl"
    jl.write_text('{"prompt": "hi"}\n{"text": "x"}\n')
    with pytest.raises(BabyLlamaError, match=r"p.jsonl:2: .*prompt"):
        read_prompts(jl)
    with pytest.raises(SettingError, match="top_p"):
        _run([str(model_dir / "model"), "--prompt", "x", "--top-p", "0"])
    with pytest.raises(SettingError, match="threads"):
        _run([str(model_dir / "model"), "--prompt", "x", "--threads", "0"])


def _cli(argv, capsys):
    from babyllama.cli import main

    rc = main(argv)
    return rc, capsys.readouterr()


def test_sample_cli_gives_the_text_of_generate_with_the_same_settings(model_dir, tmp_path, capsys):
    from babyllama.loading import load

    m = str(model_dir / "model")
    bos = load(m).tokenizer.bos_id
    for temperature, n in (("0.8", 3), ("0", 2)):
        rc, sampled = _cli(["sample", m, "--prompt", "Once upon", "--seed", "3", "--num-samples", str(n),
                            "--max-new-tokens", "20", "--temperature", temperature], capsys)
        assert rc == 0
        out = tmp_path / f"g{temperature}.jsonl"
        rc, _ = _cli(["generate", m, "--prompt", "Once upon", "--seed", "3", "--max-new-tokens", "20",
                      "--temperature", temperature, "--top-k", "40", "--stop-token-id", str(bos), "--quiet",
                      "--out", str(out)] + (["--num-return-sequences", str(n)] if temperature != "0" else []), capsys)
        assert rc == 0
        texts = [r["prompt"] + r["text"] for r in map(json.loads, out.read_text().splitlines())]
        texts = texts * (n // len(texts))  # greedy: generate gives the one answer, sample repeats it
        assert sampled.out == "".join(f"--- sample {i + 1}\n{t}\n" for i, t in enumerate(texts))
        assert len(set(texts)) == (n if temperature != "0" else 1)


@pytest.mark.parametrize("verb", ["sample", "generate", "decode-study"])
@pytest.mark.parametrize("device", ["foo", "cuda"])
def test_cli_bad_device_is_a_one_line_error(model_dir, tmp_path, capsys, verb, device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    extra = {"sample": [], "generate": ["--prompt", "x"], "decode-study": ["--out", str(tmp_path / "s")]}[verb]
    rc, res = _cli([verb, str(model_dir / "model"), "--device", device] + extra, capsys)
    assert rc == 2 and res.err.count("\n") == 1
    assert res.err.startswith(f"babyllama {verb}: error: --device = '{device}'")
    assert not (tmp_path / "s").exists()


def test_stop_ids_include_eos_unless_ignored():
    assert stop_token_set(GenerationConfig(stop_token_ids=(5,)), 2, 10) == {2, 5}
    assert stop_token_set(GenerationConfig(ignore_eos=True), 2, 10) == set()


def test_decode_step_is_rebuilt_when_weights_change():
    from babyllama.model import _DECODE_STEPS

    model, tok = tiny(), ByteTok()
    before = generate(model, tok, ["Once"], max_new_tokens=12, ignore_eos=True)[0].tokens
    built = _DECODE_STEPS[model][1]
    assert generate(model, tok, ["Once"], max_new_tokens=12, ignore_eos=True)[0].tokens == before
    assert _DECODE_STEPS[model][1] is built  # reused while the weights are unchanged
    with torch.no_grad():
        model.layers[0].feed_forward.w2.weight.mul_(-3.0)
    after = generate(model, tok, ["Once"], max_new_tokens=12, ignore_eos=True)[0].tokens
    assert after == reference_greedy(model, tok.encode("Once"), 12) and after != before
