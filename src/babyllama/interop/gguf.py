"""GGUF (llama.cpp) files: export ours as f32, f16 or Q8_0; import Llama GGUF models with their tokenizer.

Uses the `gguf` package (extra `gguf`): GGUFWriter to write, GGUFReader + gguf.quants.dequantize to read
(F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants that package can dequantize).

Layout: llama.cpp's `llama` architecture applies RoPE to adjacent pairs, and its HF converter
(convert_hf_to_gguf.py, LlamaModel.permute) undoes HF's rotate-half permutation of q/k. So GGUF stores
q/k in Meta/llama2.c order, which is ours: weights go in and out unpermuted. Tensor names:
token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate (w1),
ffn_down (w2), ffn_up (w3)}, output_norm, output (absent when tied).

Tokenizer: `tokenizer.ggml.model` "llama" (SentencePiece) becomes a babyllama Tokenizer rebuilt from the
tokens, scores and token types; "gpt2" (byte-level BPE, e.g. SmolLM2) becomes a `tokenizers` BPE with the
file's merges, as a BPETokenizer; the pre-tokenizer follows `tokenizer.ggml.pre` ("smollm":
single digits + GPT-2 regex, "llama-bpe"/"llama3": Llama-3 regex, else the GPT-2 regex).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babyllama.interop import build_model, file_size_error, make_config, our_state
from babyllama.model import Llama, unwrap_model
from babyllama.tokenizers import BPETokenizer, Tokenizer, check_vocab
from babyllama.tokenizers.sentencepiece import llama_sentencepiece_proto
from babyllama.utils.io import BabyLlamaError, atomic_path
from babyllama.utils.optional import require

MAGIC = b"GGUF"
KINDS = {"f32": "F32", "f16": "F16", "q8_0": "Q8_0"}
_FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7}

_LAYER = {"attention_norm": "attn_norm", "attention.wq": "attn_q", "attention.wk": "attn_k",
          "attention.wv": "attn_v", "attention.wo": "attn_output", "ffn_norm": "ffn_norm",
          "feed_forward.w1": "ffn_gate", "feed_forward.w2": "ffn_down", "feed_forward.w3": "ffn_up"}
_TOP = {"tok_embeddings": "token_embd", "norm": "output_norm", "output": "output"}

_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def gguf_name(ours: str) -> str:
    base = ours[:-len(".weight")]
    if base.startswith("layers."):
        _, i, rest = base.split(".", 2)
        return f"blk.{i}.{_LAYER[rest]}.weight"
    return f"{_TOP[base]}.weight"


def our_name(name: str) -> str | None:
    if not name.endswith(".weight"):
        return None
    base = name[:-len(".weight")]
    if base.startswith("blk."):
        parts = base.split(".", 2)
        back = {v: k for k, v in _LAYER.items()}
        if len(parts) == 3 and parts[2] in back:
            return f"layers.{parts[1]}.{back[parts[2]]}.weight"
        return None
    back_top = {v: k for k, v in _TOP.items()}
    return f"{back_top[base]}.weight" if base in back_top else None


# ---- export -----------------------------------------------------------------------------------------
def export_gguf(model: Llama, path: str | os.PathLike, tokenizer: Any | None = None, kind: str = "f32",
                name: str = "babyllama") -> dict[str, Any]:
    """Write a GGUF file llama.cpp can run. kind: f32, f16 or q8_0 (norms stay F32; a matrix whose rows are
    not a multiple of 32 falls back to F16 in q8_0 mode, as llama.cpp's converter does).
    Returns {tensor name: GGML type name}."""
    gguf = require("gguf", "to write GGUF files")
    if kind not in KINDS:
        raise BabyLlamaError(f"unknown GGUF type {kind!r}; use one of {sorted(KINDS)}")
    path = Path(path)
    cfg = unwrap_model(model).config
    if tokenizer is not None:
        check_vocab(tokenizer, cfg.vocab_size, path)
    Q = gguf.GGMLQuantizationType
    types: dict[str, str] = {}
    with atomic_path(path) as tmp:
        w = gguf.GGUFWriter(str(tmp), "llama")
        w.add_name(name)
        w.add_context_length(cfg.max_seq_len)
        w.add_embedding_length(cfg.dim)
        w.add_block_count(cfg.n_layers)
        w.add_feed_forward_length(cfg.hidden_dim)
        w.add_rope_dimension_count(cfg.head_dim)
        w.add_head_count(cfg.n_heads)
        w.add_head_count_kv(cfg.n_kv_heads)
        w.add_layer_norm_rms_eps(cfg.norm_eps)
        w.add_rope_freq_base(cfg.rope_theta)
        w.add_vocab_size(cfg.vocab_size)
        w.add_file_type(_FILE_TYPE[kind])
        if kind == "q8_0":
            w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        if tokenizer is not None:
            _add_tokenizer(w, tokenizer)
        for ours, t in our_state(model).items():
            arr = t.numpy().astype(np.float32)
            gname = gguf_name(ours)
            if arr.ndim == 1 or kind == "f32":
                w.add_tensor(gname, arr)
                types[gname] = "F32"
            elif kind == "f16" or arr.shape[-1] % 32:
                w.add_tensor(gname, arr.astype(np.float16))
                types[gname] = "F16"
            else:
                w.add_tensor(gname, gguf.quants.quantize(arr, Q.Q8_0), raw_dtype=Q.Q8_0)
                types[gname] = "Q8_0"
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return types


def _add_tokenizer(w: Any, tokenizer: Any) -> None:
    if isinstance(tokenizer, BPETokenizer):
        _add_bpe_tokenizer(w, tokenizer)
        return
    proto = tokenizer.model_proto()
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list([p.piece for p in proto.pieces])
    w.add_token_scores([float(p.score) for p in proto.pieces])
    w.add_token_types([int(p.type) for p in proto.pieces])  # SentencePiece and GGUF share the numbering
    if tokenizer.bos_id >= 0:
        w.add_bos_token_id(tokenizer.bos_id)
    if tokenizer.eos_id >= 0:
        w.add_eos_token_id(tokenizer.eos_id)
    if tokenizer.unk_id >= 0:
        w.add_unk_token_id(tokenizer.unk_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(bool(proto.normalizer_spec.add_dummy_prefix))


def _add_bpe_tokenizer(w: Any, tokenizer: BPETokenizer) -> None:
    """A byte-level BPE as llama.cpp's "gpt2" tokenizer: tokens, merges, token types, pre-tokenizer name."""
    import json

    spec = json.loads(tokenizer.tk.to_str())
    if spec["model"].get("type") != "BPE" or not isinstance(spec.get("pre_tokenizer"), dict) or \
            "ByteLevel" not in json.dumps(spec["pre_tokenizer"]):
        raise BabyLlamaError("GGUF export of a tokenizers-library tokenizer needs a byte-level BPE; export "
                             "without a tokenizer instead")
    n = tokenizer.vocab_size
    tokens = [tokenizer.tk.id_to_token(i) for i in range(n)]
    types = [1] * n
    for added in spec.get("added_tokens", []):
        types[added["id"]] = 3 if added.get("special") else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(tokenizer.pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for add, value in ((w.add_bos_token_id, tokenizer.bos_id), (w.add_eos_token_id, tokenizer.eos_id),
                       (w.add_pad_token_id, tokenizer.pad_id)):
        if value >= 0:
            add(value)
    w.add_add_bos_token(tokenizer.add_bos)


# ---- import -----------------------------------------------------------------------------------------
def _value(field: Any) -> Any:
    """Python value of a GGUFReader field (works on gguf versions with and without ReaderField.contents)."""
    from gguf import GGUFValueType as T

    main = field.types[0]
    if main == T.ARRAY:
        sub = field.types[-1]
        if sub == T.STRING:
            return [bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data]
        return [x for i in field.data for x in field.parts[i].tolist()]
    if main == T.STRING:
        return bytes(field.parts[-1]).decode("utf-8", errors="replace")
    v = field.parts[-1].tolist()[0]
    if main == T.FLOAT32:
        v = float(f"{v:.7g}")  # the float32 value, printed short: 9.999999747e-06 -> 1e-05
    return v


class _PastEnd(Exception):
    """The GGUF reader wanted bytes beyond the end of the file."""

    def __init__(self, need: int, size: int) -> None:
        super().__init__(need, size)
        self.need, self.size = need, size


def _bounded_reader(gguf: Any) -> type:
    """GGUFReader whose every read (header, metadata, tensor data) is checked against the file size."""

    class BoundedReader(gguf.GGUFReader):
        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            need = int(offset) + np.dtype(dtype).itemsize * int(count)
            if need > len(self.data):
                raise _PastEnd(need, len(self.data))
            return super()._get(offset, dtype, count, override_order)

    return BoundedReader


def _reader(path: Path) -> Any:
    gguf = require("gguf", "to read GGUF files")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != MAGIC:
        raise BabyLlamaError(f"{path}: not a GGUF file (first bytes {head!r}, expected {MAGIC!r})")
    try:
        return _bounded_reader(gguf)(str(path))
    except _PastEnd as e:
        raise file_size_error(path, "GGUF file", e.need, e.size) from None
    except ValueError as e:
        msg = str(e)
        if "GGMLQuantizationType" in msg:
            msg = f"unknown tensor type ({msg}); the file is corrupted or needs a newer `gguf` package"
        raise BabyLlamaError(f"{path}: cannot read GGUF: {msg}") from None
    except Exception as e:  # truncated files fail inside numpy with assorted errors
        raise BabyLlamaError(f"{path}: cannot read GGUF ({type(e).__name__}: {str(e)[:160]}); "
                             f"truncated or corrupted?") from None


def read_metadata(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """(GGUFReader, metadata dict without the big tokenizer arrays)."""
    path = Path(path)
    r = _reader(path)
    big = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}
    meta = {k: _value(f) for k, f in r.fields.items() if k not in big and f.types}
    return r, meta


def _tensor(t: Any, path: Path) -> torch.Tensor:
    import gguf

    try:
        arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
    except NotImplementedError:
        raise BabyLlamaError(f"{path}: tensor {t.name} has type {t.tensor_type.name}, which babyllama cannot "
                             f"dequantize (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, K-quants)") from None
    shape = tuple(int(x) for x in reversed(t.shape.tolist()))
    if arr.size != int(np.prod(shape)):
        raise BabyLlamaError(f"{path}: tensor {t.name} holds {arr.size} values, its shape {shape} needs "
                             f"{int(np.prod(shape))}")
    if arr.dtype != np.float32 or not arr.flags.writeable:  # F32 tensors are read-only views of the file
        arr = np.array(arr, dtype=np.float32)
    return torch.from_numpy(arr.reshape(shape))


def read_gguf(path: str | os.PathLike, with_tokenizer: bool = True) -> tuple[Llama, Any, dict[str, Any]]:
    """Load a GGUF Llama (weights dequantized to float32). Returns (model, tokenizer or None, info)."""
    path = Path(path)
    r, meta = read_metadata(path)
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise BabyLlamaError(f"{path}: GGUF architecture is {arch!r}; babyllama imports 'llama' models only")

    def get(key: str, default: Any = None, required: bool = False) -> Any:
        if f"llama.{key}" in meta:
            return meta[f"llama.{key}"]
        if required:
            raise BabyLlamaError(f"{path}: GGUF metadata lacks llama.{key}")
        return default

    scaling = get("rope.scaling.type", "none")
    if scaling not in ("none", None):
        raise BabyLlamaError(f"{path}: rope scaling {scaling!r} is not supported; only plain RoPE")
    tensors = {t.name: t for t in r.tensors}
    state: dict[str, torch.Tensor] = {}
    unknown = []
    for name, t in tensors.items():
        ours = our_name(name)
        if ours is None:
            if name != "rope_freqs.weight":
                unknown.append(name)
            continue
        state[ours] = _tensor(t, path)
    if unknown:
        raise BabyLlamaError(f"{path}: tensors {unknown[:4]} are not part of a plain Llama model")
    if "tok_embeddings.weight" not in state or "layers.0.feed_forward.w1.weight" not in state:
        raise BabyLlamaError(f"{path}: no token_embd.weight or blk.0.ffn_gate.weight tensor")
    n_heads = int(get("attention.head_count", required=True))
    cfg = make_config(path, dim=int(get("embedding_length", required=True)),
                      n_layers=int(get("block_count", required=True)), n_heads=n_heads,
                      n_kv_heads=int(get("attention.head_count_kv", n_heads)),
                      vocab_size=int(state["tok_embeddings.weight"].shape[0]),
                      hidden_dim=int(state["layers.0.feed_forward.w1.weight"].shape[0]),
                      norm_eps=float(get("attention.layer_norm_rms_epsilon", 1e-5)),
                      max_seq_len=int(get("context_length", 2048)),
                      rope_theta=float(get("rope.freq_base", 10000.0)),
                      tie_embeddings="output.weight" not in state)
    for key, want in (("rope.dimension_count", cfg.head_dim), ("attention.key_length", cfg.head_dim)):
        if get(key) is not None and int(get(key)) != want:
            raise BabyLlamaError(f"{path}: llama.{key} is {get(key)}, babyllama needs head_dim {want}")
    model = build_model(cfg, state, path)
    notes: list[str] = []
    tokenizer = read_gguf_tokenizer(r, meta, path, notes) if with_tokenizer else None
    type_counts: dict[str, int] = {}
    for t in r.tensors:
        type_counts[t.tensor_type.name] = type_counts.get(t.tensor_type.name, 0) + 1
    info = {"format": "gguf", "path": str(path),
            "dtype": ", ".join(f"{k} x{v}" for k, v in sorted(type_counts.items())) + " (dequantized to float32)",
            "description": f"GGUF v{meta.get('GGUF.version')} llama model {meta.get('general.name', '')!r}".strip(),
            "notes": notes}
    return model, tokenizer, info


def read_gguf_tokenizer(r: Any, meta: dict[str, Any], path: Path, notes: list[str]) -> Any | None:
    kind = meta.get("tokenizer.ggml.model")
    fields = r.fields
    if kind is None or "tokenizer.ggml.tokens" not in fields:
        notes.append("no tokenizer in the file")
        return None
    tokens = _value(fields["tokenizer.ggml.tokens"])
    types = _value(fields["tokenizer.ggml.token_type"]) if "tokenizer.ggml.token_type" in fields else [1] * len(tokens)
    try:
        if kind == "llama":
            scores = _value(fields["tokenizer.ggml.scores"]) if "tokenizer.ggml.scores" in fields else [0.0] * len(tokens)
            return _sentencepiece(tokens, scores, types, meta, path)
        if kind == "gpt2":
            merges = _value(fields["tokenizer.ggml.merges"]) if "tokenizer.ggml.merges" in fields else []
            return _byte_level_bpe(tokens, merges, types, meta, path, notes)
    except (BabyLlamaError, ValueError, IndexError) as e:  # a broken vocabulary must not hide the weights
        notes.append(f"tokenizer in the file could not be rebuilt ({str(e)[:160]}); loaded the weights only")
        return None
    notes.append(f"tokenizer model {kind!r} is not supported; loaded the weights only")
    return None


def _sentencepiece(tokens: list[str], scores: list[float], types: list[int], meta: dict[str, Any],
                   path: Path) -> Tokenizer:
    pieces = [(piece, score, int(kind) if 1 <= int(kind) <= 6 else 1)  # SentencePiece's types are 1..6
              for piece, score, kind in zip(tokens, scores, types)]
    proto = llama_sentencepiece_proto(pieces, unk_id=int(meta.get("tokenizer.ggml.unknown_token_id", 0)),
                                      bos_id=int(meta.get("tokenizer.ggml.bos_token_id", -1)),
                                      eos_id=int(meta.get("tokenizer.ggml.eos_token_id", -1)),
                                      add_dummy_prefix=bool(meta.get("tokenizer.ggml.add_space_prefix", True)))
    return Tokenizer(proto.SerializeToString(), source=f"{path} (GGUF vocabulary)")


def _byte_level_bpe(tokens: list[str], merges: list[str], types: list[int], meta: dict[str, Any], path: Path,
                    notes: list[str]) -> BPETokenizer:
    tk_mod = require("tokenizers", "to use a GGUF byte-level BPE tokenizer")
    from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tk = tk_mod.Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre == "smollm":
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    elif pre in ("llama-bpe", "llama3", "llama-v3"):
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"),
                                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        if pre not in ("default", "gpt2", "gpt-2"):
            notes.append(f"pre-tokenizer {pre!r} unknown to babyllama; using GPT-2's split (text with "
                         f"digits or unusual spacing may tokenize differently from llama.cpp)")
    tk.decoder = decoders.ByteLevel()
    special = [AddedToken(tok, special=True, normalized=False) for tok, k in zip(tokens, types) if int(k) == 3]
    if special:
        tk.add_special_tokens(special)
    user = [AddedToken(tok, special=False, normalized=False) for tok, k in zip(tokens, types) if int(k) == 4]
    if user:
        tk.add_tokens(user)
    return BPETokenizer(tk, meta.get("tokenizer.ggml.bos_token_id"), meta.get("tokenizer.ggml.eos_token_id"),
                        meta.get("tokenizer.ggml.padding_token_id"),
                        add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", True)),
                        source=f"{path} (GGUF byte-level BPE, pre={pre})", pre=pre)
