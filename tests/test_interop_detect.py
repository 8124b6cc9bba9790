"""Format detection by content, babyllama.loading.load over every format, `babyllama convert` and `babyllama inspect`."""
from __future__ import annotations

import json
import random
import struct

import pytest
import torch

from helpers import noisy_model

from babyllama.checkpoint import save_model
from babyllama.cli import main
from babyllama.interop.detect import sniff
from babyllama.loading import inspect, load
from babyllama.model import Llama
from babyllama.utils.io import BabyLlamaError

WORDS = "once upon a time there was little girl named lily she loved to play in the park one day".split()


@pytest.fixture(scope="module")
def tok():
    from babyllama.tokenizers import train_tokenizer

    rng = random.Random(0)
    return train_tokenizer([" ".join(rng.choice(WORDS) for _ in range(30)) + "." for _ in range(300)], 300)



def load_model(path, tokenizer=None):
    loaded = load(path, tokenizer=tokenizer, require_tokenizer=False)
    return loaded.model, loaded.tokenizer, loaded.info

def tiny(vocab: int = 300, tie: bool = True, **kw) -> Llama:
    cfg = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=64, max_seq_len=32)
    cfg.update(kw)
    return noisy_model(0, vocab_size=vocab, tie_embeddings=tie, **cfg)


def logits(model: Llama) -> torch.Tensor:
    x = torch.randint(0, model.config.vocab_size, (1, 10), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model(x).logits


@pytest.fixture(scope="module")
def written(tmp_path_factory, tok):
    """One model written in every format, under misleading file names (detection must use content)."""
    from babyllama.interop.convert import save_as

    d = tmp_path_factory.mktemp("formats")
    model = tiny()
    paths = {"babyllama": d / "ours", "hf": d / "hf", "gguf": d / "model.bin", "llama2c-v0": d / "legacy.gguf",
             "llama2c-v1": d / "v1.pt"}
    save_model(model, paths["babyllama"], tok)
    save_as(model, tok, paths["hf"], "hf")
    save_as(model, tok, paths["gguf"], "gguf")
    save_as(model, None, paths["llama2c-v0"], "llama2c")
    save_as(model, None, paths["llama2c-v1"], "llama2c-v1")
    state = {"_orig_mod." + k: v for k, v in model.state_dict().items()}
    c = model.config
    args = dict(dim=c.dim, n_layers=c.n_layers, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
                vocab_size=c.vocab_size, multiple_of=32, max_seq_len=c.max_seq_len, dropout=0.0)
    paths["llama2c-pt"] = d / "ckpt.data"
    torch.save({"model_args": args, "model": state}, paths["llama2c-pt"])
    paths["llama2c-pt-legacy"] = d / "old.bin"
    torch.save({"model_args": args, "model": state}, paths["llama2c-pt-legacy"], _use_new_zipfile_serialization=False)
    return model, paths


def test_sniff_by_content(written):
    _, paths = written
    for fmt, path in paths.items():
        assert sniff(path) == fmt.replace("-legacy", ""), path


def test_load_model_every_format(written, tok):
    model, paths = written
    ref = logits(model)
    for fmt, path in paths.items():
        loaded, tokenizer, info = load_model(path)
        assert info["format"] == fmt.replace("-legacy", "")
        assert info["description"]
        torch.testing.assert_close(logits(loaded), ref, atol=1e-5, rtol=0)
        if fmt in ("babyllama", "hf", "gguf"):
            assert tokenizer.encode("once upon a time lily") == tok.encode("once upon a time lily"), fmt
        else:
            assert tokenizer is None and any("tokenizer" in n for n in info["notes"])


def test_legacy_bin_whose_header_starts_like_a_pickle(tmp_path):
    from babyllama.interop.llama2c import write_bin

    model = tiny(vocab=16, dim=640, n_heads=10, n_kv_heads=10, hidden_dim=32, n_layers=1, max_seq_len=8)
    write_bin(model, tmp_path / "m.bin")
    assert (tmp_path / "m.bin").read_bytes()[:2] == b"\x80\x02"  # also how a protocol-2 pickle starts
    assert sniff(tmp_path / "m.bin") == "llama2c-v0"


def test_unknown_and_broken_inputs(tmp_path, written):
    _, paths = written
    (tmp_path / "junk").write_bytes(b"hello world, not a model" * 10)
    with pytest.raises(BabyLlamaError, match="unrecognised checkpoint"):
        sniff(tmp_path / "junk")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(BabyLlamaError, match="unrecognised"):
        load_model(tmp_path / "empty")
    with pytest.raises(BabyLlamaError, match="no such file"):
        load_model(tmp_path / "missing")
    (tmp_path / "folder").mkdir()
    with pytest.raises(BabyLlamaError, match="no config.json"):
        load_model(tmp_path / "folder")
    legacy = paths["llama2c-v0"].read_bytes()
    (tmp_path / "cut.bin").write_bytes(legacy[:-64])
    with pytest.raises(BabyLlamaError, match=f"implies {len(legacy):,} bytes, file has {len(legacy) - 64:,}"):
        load_model(tmp_path / "cut.bin")
    (tmp_path / "v9.bin").write_bytes(struct.pack("<Ii", 0x616B3432, 9) + b"\0" * 300)
    with pytest.raises(BabyLlamaError, match="unknown version 9"):
        load_model(tmp_path / "v9.bin")


def test_tokenizer_argument(written, tok, tmp_path):
    _, paths = written
    tok.save(tmp_path / "tok.model")
    _, tokenizer, _ = load_model(paths["llama2c-v0"], tokenizer=tmp_path / "tok.model")
    assert tokenizer.hash == tok.hash
    from babyllama.tokenizers import train_tokenizer

    other = train_tokenizer([" ".join(WORDS)] * 50, 290)
    other.save(tmp_path / "small.model")
    with pytest.raises(BabyLlamaError, match="vocab_size"):
        load_model(paths["llama2c-v0"], tokenizer=tmp_path / "small.model")


def test_inspect_reports(written):
    model, paths = written
    info = inspect(paths["hf"])
    assert info["num_params"] == sum(p.numel() for p in model.parameters())
    assert info["config"]["n_kv_heads"] == 2 and info["dtype"] == "float32"
    assert info["tokenizer"]["vocab_size"] == 300


def test_cli_convert_chain_and_inspect(tmp_path, written, tok, capsys):
    model, paths = written
    tok.save(tmp_path / "tok.model")
    src = paths["llama2c-v0"]
    assert main(["convert", str(src), str(tmp_path / "ours"), "--to", "babyllama",
                 "--tokenizer", str(tmp_path / "tok.model")]) == 0
    assert main(["convert", str(tmp_path / "ours"), str(tmp_path / "m.gguf"), "--to", "gguf-f16"]) == 0
    assert main(["convert", str(tmp_path / "ours"), str(tmp_path / "hf"), "--to", "hf"]) == 0
    assert main(["convert", str(tmp_path / "hf"), str(tmp_path / "run.bin"), "--to", "llama2c"]) == 0
    assert (tmp_path / "run.tokenizer.bin").is_file()
    out = capsys.readouterr().out
    assert "wrote" in out and "read llama2c-v0" in out
    back, back_tok, _ = load_model(tmp_path / "run.bin", tokenizer=tmp_path / "run.tokenizer.bin")
    torch.testing.assert_close(logits(back), logits(model), atol=1e-5, rtol=0)
    assert back_tok.encode("the park one day") == tok.encode("the park one day")
    assert main(["inspect", str(tmp_path / "m.gguf")]) == 0
    out = capsys.readouterr().out
    assert "format:      gguf" in out and f"{model.config.num_params():,}" in out and "F16" in out
    assert main(["inspect", str(tmp_path / "hf"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "hf"


def test_cli_errors_are_one_line(tmp_path, written, capsys):
    _, paths = written
    (tmp_path / "exists.bin").write_bytes(b"x")
    assert main(["convert", str(paths["hf"]), str(tmp_path / "exists.bin"), "--to", "llama2c"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "exists.bin").read_bytes() == b"x"
    (tmp_path / "junk").write_bytes(b"junk" * 20)
    assert main(["inspect", str(tmp_path / "junk")]) == 2
    assert "unrecognised" in capsys.readouterr().err
