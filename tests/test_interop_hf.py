"""Hugging Face interop: export -> import round trip, transformers loads our export (same logits, same greedy
continuation, same tokenization), we load folders transformers wrote, and bad folders fail clearly."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys

import pytest
from helpers import byte_level_bpe, noisy_model
import torch

from babyllama.interop.hf import export_hf, hf_to_meta, meta_to_hf, read_hf
from babyllama.model import KVCache, Llama
from babyllama.utils.io import BabyLlamaError

CONFIGS = {
    "gqa-tied": dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=48, tie_embeddings=True),
    "mha-untied": dict(dim=24, n_layers=3, n_heads=3, n_kv_heads=3, hidden_dim=40, tie_embeddings=False,
                       rope_theta=500.0, norm_eps=1e-6),
}
WORDS = ("once upon a time there was little girl named lily she loved to play outside in the park one day "
         "saw big red ball cat dog tree happy sad mom said") .split()
SAMPLES = ["Once upon a time, there was a cat.", "  two  leading spaces\nand a newline", "digits 12345 and €uro ☃",
           "trailing space ", "tabs\tand\u00a0nbsp", ""]


@pytest.fixture(scope="module")
def tok():
    from babyllama.tokenizers import train_tokenizer

    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(30)).capitalize() + ". It was 42!" for _ in range(400)]
    return train_tokenizer(texts, 400)


def tiny(name: str, vocab: int = 400, seed: int = 0) -> Llama:
    return noisy_model(seed, vocab_size=vocab, max_seq_len=64, **CONFIGS[name])


def tokens(vocab: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (2, 16), generator=torch.Generator().manual_seed(seed))


def test_permutation_is_inverted():
    w = torch.randn(24, 10)
    torch.testing.assert_close(hf_to_meta(meta_to_hf(w, 3), 3), w, rtol=0, atol=0)
    # per head: even rows (first of each rotary pair) go to the first half, odd rows to the second
    p = meta_to_hf(torch.arange(8.0)[:, None], 1)
    assert p.flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_round_trip(tmp_path, tok, name):
    model = tiny(name)
    export_hf(model, tmp_path / "hf", tok)
    assert {p.name for p in (tmp_path / "hf").iterdir()} >= {
        "config.json", "generation_config.json", "model.safetensors", "tokenizer.model", "tokenizer.json",
        "tokenizer_config.json"}
    back, tok2, info = read_hf(tmp_path / "hf")
    assert info["format"] == "hf" and back.config.to_dict() == model.config.to_dict()
    assert tok2.hash == tok.hash
    x = tokens(400)
    with torch.no_grad():
        torch.testing.assert_close(back(x).logits, model(x).logits, atol=1e-5, rtol=0)


def _greedy(model: Llama, prompt: list[int], steps: int) -> list[int]:
    cache = KVCache(model.config, batch_size=1)
    x, out = torch.tensor([prompt]), []
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(model(x, kv_cache=cache, last_only=True).logits[0, -1].argmax())
            out.append(nxt)
            x = torch.tensor([[nxt]])
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_transformers_loads_export(tmp_path, tok, name):
    transformers = pytest.importorskip("transformers")
    model = tiny(name)
    export_hf(model, tmp_path / "hf", tok)
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    x = tokens(400)
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, model(x).logits, atol=1e-4, rtol=0)
        prompt = tok.encode("Once upon a time")
        ref = hf.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                          attention_mask=torch.ones(1, len(prompt), dtype=torch.long), pad_token_id=0)
    ref = ref[0, len(prompt):].tolist()
    ours = _greedy(model, prompt, 20)
    assert ours[:len(ref)] == ref
    assert len(ref) == 20 or ref[-1] == tok.eos_id  # transformers stops at EOS


def test_auto_tokenizer_encodes_like_ours(tmp_path, tok):
    transformers = pytest.importorskip("transformers")
    export_hf(tiny("gqa-tied"), tmp_path / "hf", tok)
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    rng = random.Random(5)
    texts = SAMPLES + [" ".join(rng.choice(WORDS) for _ in range(25)) for _ in range(20)]
    for text in texts:
        ids = tok.encode(text)
        assert hf_tok(text)["input_ids"] == ids, text
        assert hf_tok.decode(ids, skip_special_tokens=True) == tok.decode(ids), text
    assert hf_tok.bos_token_id == tok.bos_id and hf_tok.eos_token_id == tok.eos_id


@pytest.mark.parametrize("layout", ["safetensors", "sharded", "pytorch_bin"])
def test_import_folder_written_by_transformers(tmp_path, layout):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, vocab_size=50, max_position_embeddings=64,
                                   rms_norm_eps=1e-5, tie_word_embeddings=False)
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0, 0.3)
    out = tmp_path / "hf"
    if layout == "pytorch_bin":
        out.mkdir()
        cfg.save_pretrained(out)
        torch.save(hf.state_dict(), out / "pytorch_model.bin")
    else:
        hf.save_pretrained(out, max_shard_size="20KB" if layout == "sharded" else "1GB")
    if layout == "sharded":
        assert (out / "model.safetensors.index.json").is_file()
    model, tokenizer, info = read_hf(out)
    assert tokenizer is None and model.config.n_kv_heads == 2 and not model.config.tie_embeddings
    x = tokens(50)
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, hf(x).logits, atol=1e-4, rtol=0)


def _write_config(folder, **changes):
    meta = json.loads((folder / "config.json").read_text())
    meta.update(changes)
    (folder / "config.json").write_text(json.dumps(meta))


def test_bad_folders(tmp_path, tok):
    export_hf(tiny("mha-untied"), tmp_path / "hf", tok)
    folder = tmp_path / "hf"
    _write_config(folder, rope_scaling={"rope_type": "llama3", "factor": 8.0})
    _write_config(folder, rope_parameters={"rope_type": "llama3", "factor": 8.0, "rope_theta": 500.0})
    with pytest.raises(BabyLlamaError, match="rope scaling 'llama3'"):
        read_hf(folder)
    _write_config(folder, rope_scaling=None, rope_parameters=None, model_type="gpt2")
    with pytest.raises(BabyLlamaError, match="model_type is 'gpt2'"):
        read_hf(folder)
    _write_config(folder, model_type="llama", num_key_value_heads=1)
    with pytest.raises(BabyLlamaError, match="has shape"):
        read_hf(folder)
    _write_config(folder, num_key_value_heads=3)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BabyLlamaError, match="model.safetensors"):
        read_hf(folder)


def test_wrong_type_in_config_names_the_key(tmp_path):
    export_hf(tiny("gqa-tied"), tmp_path / "hf")
    folder = tmp_path / "hf"
    good = json.loads((folder / "config.json").read_text())
    for key, value in [("hidden_size", "big"), ("num_hidden_layers", 2.5), ("rms_norm_eps", [1e-5])]:
        (folder / "config.json").write_text(json.dumps({**good, key: value}))
        with pytest.raises(BabyLlamaError, match=rf"config.json: {key} must be .*, got {re.escape(repr(value))}"):
            read_hf(folder)
    (folder / "config.json").write_text(json.dumps({k: v for k, v in good.items() if k != "vocab_size"}))
    with pytest.raises(BabyLlamaError, match="config.json: config lacks 'vocab_size'"):
        read_hf(folder)


def test_export_refuses_wrong_tokenizer(tmp_path, tok):
    with pytest.raises(BabyLlamaError, match="vocab_size"):
        export_hf(tiny("gqa-tied", vocab=64), tmp_path / "hf", tok)
    assert not (tmp_path / "hf").exists()


def test_core_does_not_need_transformers(tmp_path):
    code = f"""
import sys
sys.modules["transformers"] = None  # any import of it now fails
import torch
from babyllama.model import Llama, LlamaConfig
from babyllama.interop import detect, hf, llama2c, convert
m = Llama(LlamaConfig(dim=16, n_layers=1, n_heads=2, vocab_size=8, max_seq_len=8))
hf.export_hf(m, r"{tmp_path / 'hf'}")
back, tok, info = detect.read_any(r"{tmp_path / 'hf'}")
assert info["format"] == "hf" and tok is None
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


def test_export_with_byte_level_bpe_tokenizer(tmp_path):
    """A tokenizers-library tokenizer (e.g. from a GGUF gpt2 vocabulary) is exported as tokenizer.json."""
    pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from babyllama.tokenizers import BPETokenizer

    rng = random.Random(0)
    tk = byte_level_bpe([" ".join(rng.choices(WORDS, k=30)) for _ in range(300)], 300, ["<bos>", "<eos>"])
    ours = BPETokenizer(tk, bos_id=0, eos_id=1, add_bos=True)
    export_hf(tiny("gqa-tied", vocab=ours.vocab_size), tmp_path / "hf", ours)
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in ["once upon a time", "  two spaces\nline", "caf\u00e9 42"]:
        assert theirs(text)["input_ids"] == ours.encode(text) and ours.encode(text)[0] == 0
    _, back, _ = read_hf(tmp_path / "hf")
    assert back.encode("the park one day") == ours.encode("the park one day")
