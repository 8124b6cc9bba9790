"""llama2.c interop: .bin v0/v1 export and import, v2 (Q8_0) import, train.py .pt import, bad files,
and the real stories260K checkpoint (skipped without ../shared/data)."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import noisy_model

from babyllama.interop.llama2c import read_bin, read_pt, sniff, write_bin
from babyllama.model import KVCache, Llama, LlamaConfig
from babyllama.utils.io import BabyLlamaError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CONFIGS = {
    "gqa-tied": dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, hidden_dim=48, tie_embeddings=True),
    "mha-untied": dict(dim=24, n_layers=3, n_heads=3, n_kv_heads=3, vocab_size=40, hidden_dim=40,
                       tie_embeddings=False),
}


def tiny(name: str, seed: int = 0) -> Llama:
    return noisy_model(seed, max_seq_len=32, **CONFIGS[name])


def logits(model: Llama, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, model.config.vocab_size, (2, 12), generator=g)
    with torch.no_grad():
        return model(x).logits


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("version", [0, 1])
def test_bin_round_trip(tmp_path, name, version):
    model = tiny(name)
    path = tmp_path / "m.bin"
    write_bin(model, path, version=version)
    assert sniff(path) == version
    back, info = read_bin(path)
    assert info["format"] == f"llama2c-v{version}"
    assert back.config.to_dict() == model.config.to_dict()
    torch.testing.assert_close(logits(back), logits(model), atol=1e-5, rtol=0)


def test_legacy_layout_matches_export_py(tmp_path):
    """Check the bytes against the layout llama2.c's export.py documents, read back independently."""
    model = tiny("mha-untied")
    path = tmp_path / "m.bin"
    write_bin(model, path, version=0)
    raw = path.read_bytes()
    c = model.config
    assert struct.unpack_from("<7i", raw, 0) == (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                                                 -c.vocab_size, c.max_seq_len)  # negative: separate classifier
    floats = np.frombuffer(raw[28:], dtype="<f4")
    emb = floats[:c.vocab_size * c.dim].reshape(c.vocab_size, c.dim)
    np.testing.assert_array_equal(emb, model.tok_embeddings.weight.detach().numpy())
    np.testing.assert_array_equal(floats[-c.vocab_size * c.dim:].reshape(c.vocab_size, c.dim),
                                  model.output.weight.detach().numpy())
    # freq_cis_real sits right after the final norm: cos(pos * 10000^(-2i/hd))
    L, d, h, hd = c.n_layers, c.dim, c.hidden_dim, c.head_dim
    off = c.vocab_size * d + L * (2 * d + 4 * d * d + 3 * d * h) + d
    cos = floats[off:off + c.max_seq_len * hd // 2].reshape(c.max_seq_len, hd // 2)
    pos, i = np.arange(c.max_seq_len)[:, None], np.arange(0, hd, 2)[None, :]
    np.testing.assert_allclose(cos, np.cos(pos * 10000.0 ** (-i / hd)), atol=1e-5)


def _write_v2(model: Llama, path: Path, group: int) -> dict[str, np.ndarray]:
    """An independent writer of export.py's version 2 layout; returns the dequantized weights."""
    c = model.config
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    L = c.n_layers
    header = struct.pack("<Ii7iBi", 0x616B3432, 2, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                         c.vocab_size, c.max_seq_len, int(c.tie_embeddings), group)
    header += b"\0" * (256 - len(header))
    norms = [sd[f"layers.{i}.attention_norm.weight"] for i in range(L)] + \
            [sd[f"layers.{i}.ffn_norm.weight"] for i in range(L)] + [sd["norm.weight"]]
    names = ["tok_embeddings.weight"] + [f"layers.{i}.{p}.weight" for p in
                                         ("attention.wq", "attention.wk", "attention.wv", "attention.wo",
                                          "feed_forward.w1", "feed_forward.w2", "feed_forward.w3")
                                         for i in range(L)]
    if not c.tie_embeddings:
        names.append("output.weight")
    qs, scales, deq = [], [], {}
    for n in names:
        w = sd[n].reshape(-1, group).astype(np.float32)
        s = np.abs(w).max(axis=1) / 127.0
        q = np.round(w / s[:, None]).astype(np.int8)
        qs.append(q.tobytes())
        scales.append(s.astype("<f4").tobytes())
        deq[n] = (q.astype(np.float32) * s[:, None]).reshape(sd[n].shape)
    body = b"".join(x.astype("<f4").tobytes() for x in norms) + b"".join(qs) + b"".join(scales)
    path.write_bytes(header + body)
    return deq


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_v2_q8_0_import(tmp_path, name):
    model = tiny(name)
    deq = _write_v2(model, tmp_path / "q.bin", group=8)
    assert sniff(tmp_path / "q.bin") == 2
    back, info = read_bin(tmp_path / "q.bin")
    assert info["format"] == "llama2c-v2"
    for n, w in deq.items():
        np.testing.assert_allclose(back.state_dict()[n].numpy(), w, rtol=0, atol=1e-7)
    err = (logits(back) - logits(model)).abs().max().item()
    assert 0 < err < 0.2  # quantized: close but not equal


def _train_py_checkpoint(model: Llama, prefix: str = "_orig_mod.") -> dict:
    c = model.config
    state = {prefix + k: v.clone() for k, v in model.state_dict().items()}  # tied: both keys, as llama2.c saves
    return {"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]},
            "model_args": dict(dim=c.dim, n_layers=c.n_layers, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
                               vocab_size=c.vocab_size, multiple_of=32, max_seq_len=c.max_seq_len, dropout=0.0),
            "iter_num": 100, "best_val_loss": 1.5, "config": {"batch_size": 8, "dataset": "tinystories"}}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_train_py_checkpoint(tmp_path, name):
    model = tiny(name)
    torch.save(_train_py_checkpoint(model), tmp_path / "ckpt.pt")
    back, info = read_pt(tmp_path / "ckpt.pt")
    assert info["format"] == "llama2c-pt"
    assert back.config.tie_embeddings == model.config.tie_embeddings
    torch.testing.assert_close(logits(back), logits(model), atol=1e-5, rtol=0)


class NeedsCode:  # unpickling this needs to import and run code from this module
    def __init__(self) -> None:
        self.x = 1


def test_pickle_needing_code_is_refused(tmp_path):
    ckpt = _train_py_checkpoint(tiny("gqa-tied"))
    ckpt["config"] = NeedsCode()
    torch.save(ckpt, tmp_path / "evil.pt")
    with pytest.raises(BabyLlamaError, match="code execution"):
        read_pt(tmp_path / "evil.pt")


def test_checkpoint_shape_disagreeing_with_model_args(tmp_path):
    ckpt = _train_py_checkpoint(tiny("gqa-tied"))
    ckpt["model_args"]["n_kv_heads"] = 4  # wk/wv in the state dict are for 2 kv heads
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(BabyLlamaError, match=r"attention\.wk\.weight has shape"):
        read_pt(tmp_path / "bad.pt")


def test_truncated_and_padded_bins(tmp_path):
    model = tiny("gqa-tied")
    for version in (0, 1):
        path = tmp_path / f"v{version}.bin"
        write_bin(model, path, version=version)
        data = path.read_bytes()
        cut = tmp_path / f"cut{version}.bin"
        cut.write_bytes(data[:-100])
        with pytest.raises(BabyLlamaError) as e:
            read_bin(cut)
        msg = str(e.value)
        assert str(cut) in msg and "truncated" in msg and f"{len(data):,}" in msg and f"{len(data) - 100:,}" in msg
        longer = tmp_path / f"long{version}.bin"
        longer.write_bytes(data + b"\0" * 8)
        with pytest.raises(BabyLlamaError, match="longer than its header"):
            read_bin(longer)


def test_bad_magic_version_and_header(tmp_path):
    model = tiny("gqa-tied")
    write_bin(model, tmp_path / "v1.bin", version=1)
    data = bytearray((tmp_path / "v1.bin").read_bytes())
    data[4:8] = struct.pack("<i", 7)
    (tmp_path / "v7.bin").write_bytes(bytes(data))
    with pytest.raises(BabyLlamaError, match="version 7"):
        read_bin(tmp_path / "v7.bin")
    data[4:8] = struct.pack("<i", 1)
    data[8:12] = struct.pack("<i", 48)  # dim in the header no longer matches the stored tensors
    (tmp_path / "dim.bin").write_bytes(bytes(data))
    with pytest.raises(BabyLlamaError, match="header implies"):
        read_bin(tmp_path / "dim.bin")
    (tmp_path / "junk.bin").write_bytes(b"\xff" * 300)
    with pytest.raises(BabyLlamaError, match="not a llama2.c"):
        read_bin(tmp_path / "junk.bin")


def test_export_refuses_settings_llama2c_cannot_run(tmp_path):
    cfg = LlamaConfig(dim=16, n_layers=1, n_heads=2, vocab_size=8, max_seq_len=8, rope_theta=500000.0)
    with pytest.raises(BabyLlamaError, match="rope_theta"):
        write_bin(Llama(cfg), tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


def _greedy(model: Llama, start: int, steps: int) -> list[int]:
    cache = KVCache(model.config, batch_size=1)
    ids, x = [start], torch.tensor([[start]])
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(model(x, kv_cache=cache, last_only=True).logits[0, -1].argmax())
            ids.append(nxt)
            x = torch.tensor([[nxt]])
    return ids


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "llama2c" / "stories260K.bin").is_file(), reason="needs ../shared/data")
def test_stories260k_greedy_story(tmp_path):
    from babyllama.tokenizers import Tokenizer

    model, info = read_bin(SHARED / "llama2c" / "stories260K.bin")
    tok = Tokenizer.load(SHARED / "llama2c" / "tok512.bin")
    assert info["format"] == "llama2c-v0" and model.config.num_params() == 260_032
    ids = _greedy(model, tok.bos_id, 40)
    text = tok.decode(ids)
    assert text.startswith("Once upon a time, there was a little girl named Lily. "
                           "She loved to play outside in the park."), text
    # the v1 export of the real model gives the same logits
    write_bin(model, tmp_path / "v1.bin", version=1)
    back, _ = read_bin(tmp_path / "v1.bin")
    torch.testing.assert_close(logits(back), logits(model), atol=1e-5, rtol=0)
    # and the v0 re-export is byte-identical to the published file
    write_bin(model, tmp_path / "v0.bin", version=0)
    assert (tmp_path / "v0.bin").read_bytes() == (SHARED / "llama2c" / "stories260K.bin").read_bytes()
