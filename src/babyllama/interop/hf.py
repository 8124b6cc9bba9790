"""Hugging Face transformers Llama folders: export ours, import theirs (no transformers needed for either).

Export writes config.json (LlamaConfig), generation_config.json, model.safetensors with HF names, and the
tokenizer as tokenizer.model (SentencePiece) + tokenizer.json + tokenizer_config.json +
special_tokens_map.json, so `AutoModelForCausalLM.from_pretrained(dir)` and
`AutoTokenizer.from_pretrained(dir)` work offline.

Rotary layout: we (like Meta and llama2.c) rotate adjacent pairs (x0,x1),(x2,x3)...; HF rotates halves
(x_i, x_{i+d/2}). The q and k projections are permuted so both give the same attention:
Meta -> HF puts, per head, the even rows first and the odd rows second (HF's convert_llama_weights_to_hf).

Import reads config.json and model.safetensors (sharded or not) or pytorch_model.bin (weights_only=True).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from babyllama.interop import build_model, make_config, our_state
from babyllama.model import Llama, LlamaConfig, unwrap_model
from babyllama.tokenizers import BPETokenizer, Tokenizer, check_vocab
from babyllama.utils.io import BabyLlamaError, atomic_dir, atomic_write_json, read_json
from babyllama.utils.optional import require

_SPACE = "\u2581"

# our name suffix -> HF name suffix, per layer
_LAYER_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_TOP_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
              "output.weight": "lm_head.weight"}


def meta_to_hf(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of a q/k projection from adjacent-pair rotary order to HF's rotate-half order."""
    out, inp = w.shape
    return w.reshape(n_heads, out // n_heads // 2, 2, inp).transpose(1, 2).reshape(out, inp)


def hf_to_meta(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Inverse of meta_to_hf."""
    out, inp = w.shape
    return w.reshape(n_heads, 2, out // n_heads // 2, inp).transpose(1, 2).reshape(out, inp)


def to_hf_state(model: Llama) -> dict[str, torch.Tensor]:
    cfg = unwrap_model(model).config
    out = {}
    for k, v in our_state(model).items():
        if k.startswith("layers."):
            _, i, rest = k.split(".", 2)
            if rest == "attention.wq.weight":
                v = meta_to_hf(v, cfg.n_heads)
            elif rest == "attention.wk.weight":
                v = meta_to_hf(v, cfg.n_kv_heads)
            out[f"model.layers.{i}.{_LAYER_NAMES[rest]}"] = v.contiguous()
        else:
            out[_TOP_NAMES[k]] = v
    return out


def hf_config(cfg: LlamaConfig, tokenizer: Any | None = None, dtype: str = "float32") -> dict[str, Any]:
    bos = getattr(tokenizer, "bos_id", 1) if tokenizer is not None else 1
    eos = getattr(tokenizer, "eos_id", 2) if tokenizer is not None else 2
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.hidden_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,  # transformers < 5
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},  # transformers >= 5
        "rope_scaling": None,
        "tie_word_embeddings": cfg.tie_embeddings,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "bos_token_id": bos if bos is not None and bos >= 0 else None,
        "eos_token_id": eos if eos is not None and eos >= 0 else None,
        "torch_dtype": dtype,
        "dtype": dtype,
    }


_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def export_hf(model: Llama, out_dir: str | os.PathLike, tokenizer: Any | None = None,
              dtype: str = "float32") -> Path:
    """Write a transformers Llama folder; built beside `out_dir` and renamed into place."""
    from safetensors.torch import save_file

    if dtype not in _DTYPES:
        raise BabyLlamaError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BabyLlamaError(f"{out_dir}: exists and is not a folder")
    cfg = unwrap_model(model).config
    if tokenizer is not None:
        check_vocab(tokenizer, cfg.vocab_size, out_dir)
    with atomic_dir(out_dir) as tmp:
        state = {k: v.to(_DTYPES[dtype]) for k, v in to_hf_state(model).items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        atomic_write_json(tmp / "config.json", hf_config(cfg, tokenizer, dtype))
        gen: dict[str, Any] = {"_from_model_config": True, "do_sample": False}
        if tokenizer is not None:
            gen.update(bos_token_id=tokenizer.bos_id, eos_token_id=tokenizer.eos_id)
        atomic_write_json(tmp / "generation_config.json", gen)
        if tokenizer is not None:
            write_tokenizer_files(tokenizer, tmp, cfg.max_seq_len)
    return out_dir


# ---- tokenizer files ----------------------------------------------------------------------------------
def write_tokenizer_files(tokenizer: Any, out_dir: Path, max_len: int) -> None:
    """tokenizer.model + tokenizer.json (Llama-2 style pipeline) + tokenizer_config.json + special_tokens_map.
    A BPETokenizer (e.g. a GGUF byte-level BPE) is written as its own tokenizer.json."""
    if isinstance(tokenizer, BPETokenizer):
        _write_bpe_files(tokenizer, out_dir, max_len)
        return
    proto = tokenizer.model_proto()
    tokenizer.save(out_dir / "tokenizer.model")
    pieces = [p.piece for p in proto.pieces]
    special = {name: (pieces[i] if i is not None and 0 <= i < len(pieces) else None) for name, i in
               (("bos_token", tokenizer.bos_id), ("eos_token", tokenizer.eos_id), ("unk_token", tokenizer.unk_id))}
    atomic_write_json(out_dir / "tokenizer.json", tokenizer_json(proto, tokenizer.bos_id))
    # the generic fast class loads tokenizer.json as written; LlamaTokenizer(Fast) in transformers 5
    # would swap in a Metaspace pre-tokenizer that treats leading spaces differently from SentencePiece
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", **special, "pad_token": None,
           "add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False,
           "model_max_length": max_len}
    atomic_write_json(out_dir / "tokenizer_config.json", cfg)
    atomic_write_json(out_dir / "special_tokens_map.json", {k: v for k, v in special.items() if v})


def _write_bpe_files(tokenizer: BPETokenizer, out_dir: Path, max_len: int) -> None:
    tokenizers = require("tokenizers", "to write tokenizer.json")
    tk = tokenizers.Tokenizer.from_str(tokenizer.tk.to_str())
    piece = {name: tk.id_to_token(i) if i >= 0 else None for name, i in
             (("bos_token", tokenizer.bos_id), ("eos_token", tokenizer.eos_id), ("pad_token", tokenizer.pad_id))}
    if tokenizer.add_bos and piece["bos_token"]:
        bos = piece["bos_token"]
        tk.post_processor = tokenizers.processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.bos_id)])
    atomic_write_json(out_dir / "tokenizer.json", json.loads(tk.to_str()))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", **piece, "add_bos_token": tokenizer.add_bos,
           "add_eos_token": False, "clean_up_tokenization_spaces": False, "model_max_length": max_len}
    atomic_write_json(out_dir / "tokenizer_config.json", cfg)
    atomic_write_json(out_dir / "special_tokens_map.json", {k: v for k, v in piece.items() if v})


def _merges(proto: Any) -> list[list[str]]:
    """BPE merges implied by a SentencePiece BPE vocabulary: every split of a piece into two pieces,
    ranked by the merged piece's score (best first), ties by the ids of the parts."""
    normal = {p.piece: i for i, p in enumerate(proto.pieces) if p.type in (1, 4)}  # NORMAL, USER_DEFINED
    ranked = sorted(normal, key=lambda s: (-proto.pieces[normal[s]].score, normal[s]))
    merges = []
    for piece in ranked:
        splits = [(piece[:j], piece[j:]) for j in range(1, len(piece))
                  if piece[:j] in normal and piece[j:] in normal]
        splits.sort(key=lambda ab: (normal[ab[0]], normal[ab[1]]))
        merges.extend([a, b] for a, b in splits)
    return merges


def tokenizer_json(proto: Any, bos_id: int) -> dict[str, Any]:
    """A `tokenizers` JSON equivalent to the SentencePiece model (dummy prefix, whitespace kept, byte
    fallback), shaped like Meta's Llama-2 tokenizer.json."""
    t = proto.trainer_spec
    pieces = list(proto.pieces)
    added = [{"id": i, "content": p.piece, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, p in enumerate(pieces) if p.type in (2, 3)]
    unk = pieces[t.unk_id].piece if 0 <= t.unk_id < len(pieces) else None
    if t.model_type == 1:  # UNIGRAM
        model: dict[str, Any] = {"type": "Unigram", "unk_id": t.unk_id if unk else None,
                                 "vocab": [[p.piece, p.score] for p in pieces], "byte_fallback": t.byte_fallback}
    else:
        model = {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": bool(t.byte_fallback),
                 "ignore_merges": False, "vocab": {p.piece: i for i, p in enumerate(pieces)},
                 "merges": _merges(proto)}
    n = proto.normalizer_spec
    norms: list[dict[str, Any]] = []
    if n.add_dummy_prefix:
        norms.append({"type": "Prepend", "prepend": _SPACE})
    norms.append({"type": "Replace", "pattern": {"String": " "}, "content": _SPACE})
    decoders: list[dict[str, Any]] = [{"type": "Replace", "pattern": {"String": _SPACE}, "content": " "},
                                      {"type": "ByteFallback"}, {"type": "Fuse"}]
    if n.add_dummy_prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    post = None
    if bos_id is not None and 0 <= bos_id < len(pieces):
        bos = pieces[bos_id].piece
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": norms}, "pre_tokenizer": None,
            "post_processor": post, "decoder": {"type": "Sequence", "decoders": decoders}, "model": model}


# ---- import ---------------------------------------------------------------------------------------------
def _read_weights(folder: Path) -> tuple[dict[str, torch.Tensor], str]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    def st(p: Path) -> dict[str, torch.Tensor]:
        try:
            return load_file(str(p))
        except (SafetensorError, OSError, ValueError) as e:
            raise BabyLlamaError(f"{p}: cannot read safetensors ({e}); truncated or corrupted?") from None

    def pt(p: Path) -> dict[str, torch.Tensor]:
        from babyllama.interop.llama2c import load_torch

        obj = load_torch(p)
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise BabyLlamaError(f"{p}: expected a dict of tensors")
        return obj

    for index_name, reader in (("model.safetensors.index.json", st), ("pytorch_model.bin.index.json", pt)):
        index = folder / index_name
        if index.is_file():
            spec = read_json(index)
            weight_map = spec.get("weight_map") if isinstance(spec, dict) else None
            if not isinstance(weight_map, dict):
                raise BabyLlamaError(f"{index}: no 'weight_map' object")
            state: dict[str, torch.Tensor] = {}
            for shard in sorted(set(weight_map.values())):
                if not (folder / shard).is_file():
                    raise BabyLlamaError(f"{index}: shard {shard} is missing from {folder}")
                state.update(reader(folder / shard))
            return state, f"sharded {index_name.split('.index')[0]}"
    if (folder / "model.safetensors").is_file():
        return st(folder / "model.safetensors"), "model.safetensors"
    if (folder / "pytorch_model.bin").is_file():
        return pt(folder / "pytorch_model.bin"), "pytorch_model.bin (weights_only)"
    raise BabyLlamaError(f"{folder}: no model.safetensors, pytorch_model.bin or shard index found")


def _number(meta: dict[str, Any], key: str, kind: type, where: Path, default: Any = None) -> Any:
    """meta[key] as an int or float; a missing required key or a value of another type names the key."""
    value = meta.get(key)
    if value is None:
        if default is None:
            raise BabyLlamaError(f"{where}: config lacks {key!r}")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise BabyLlamaError(f"{where}: {key} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    return kind(value)


def _config_from_hf(meta: dict[str, Any], where: Path) -> LlamaConfig:
    if meta.get("model_type") != "llama":
        raise BabyLlamaError(f"{where}: model_type is {meta.get('model_type')!r}; only 'llama' models can be imported")
    for key, ok in (("hidden_act", ("silu", None)), ("attention_bias", (False, None)), ("mlp_bias", (False, None))):
        if meta.get(key) not in ok:
            raise BabyLlamaError(f"{where}: {key}={meta.get(key)!r} is not supported (babyllama has {ok[0]!r})")
    rope = meta.get("rope_parameters") or meta.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "default"
    if rope_type not in ("default", None):
        raise BabyLlamaError(f"{where}: rope scaling {rope_type!r} is not supported; only plain RoPE")
    if not meta.get("rope_theta") and isinstance(rope, dict) and rope.get("rope_theta"):
        meta = {**meta, "rope_theta": rope["rope_theta"]}
    dim, n_heads = _number(meta, "hidden_size", int, where), _number(meta, "num_attention_heads", int, where)
    fields = dict(dim=dim, n_layers=_number(meta, "num_hidden_layers", int, where), n_heads=n_heads,
                  n_kv_heads=_number(meta, "num_key_value_heads", int, where, n_heads),
                  vocab_size=_number(meta, "vocab_size", int, where),
                  hidden_dim=_number(meta, "intermediate_size", int, where),
                  norm_eps=_number(meta, "rms_norm_eps", float, where, 1e-6),
                  max_seq_len=_number(meta, "max_position_embeddings", int, where, 2048),
                  tie_embeddings=bool(meta.get("tie_word_embeddings", False)),
                  rope_theta=_number(meta, "rope_theta", float, where, 10000.0) or 10000.0)
    head_dim = meta.get("head_dim")
    if head_dim is not None and head_dim != dim // n_heads:
        raise BabyLlamaError(f"{where}: head_dim {head_dim} != hidden_size/num_attention_heads "
                             f"({dim // n_heads}); babyllama needs head_dim = dim / n_heads")
    return make_config(where, **fields)


def read_hf(folder: str | os.PathLike, with_tokenizer: bool = True) -> tuple[Llama, Any, dict[str, Any]]:
    """Load a transformers Llama folder. Returns (model, tokenizer or None, info)."""
    folder = Path(folder)
    meta = read_json(folder / "config.json")
    if not isinstance(meta, dict):
        raise BabyLlamaError(f"{folder / 'config.json'}: not a JSON object")
    cfg = _config_from_hf(meta, folder / "config.json")
    hf, source = _read_weights(folder)
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in hf.values()})
    state: dict[str, torch.Tensor] = {}
    back = {v: k for k, v in _LAYER_NAMES.items()}
    top = {v: k for k, v in _TOP_NAMES.items()}
    for name, v in hf.items():
        key = name[len("model."):] if name.startswith("model.") and not name.startswith("model.layers.") else name
        if name in top:
            state[top[name]] = v
        elif name.startswith("model.layers.") or name.startswith("layers."):
            parts = name.split(".")
            i = parts[2] if name.startswith("model.") else parts[1]
            rest = ".".join(parts[3:] if name.startswith("model.") else parts[2:])
            if rest.endswith("rotary_emb.inv_freq"):
                continue
            if rest not in back:
                raise BabyLlamaError(f"{folder}: unexpected tensor {name}; not a plain Llama checkpoint")
            ours = back[rest]
            if ours == "attention.wq.weight":
                v = hf_to_meta(v, cfg.n_heads)
            elif ours == "attention.wk.weight":
                v = hf_to_meta(v, cfg.n_kv_heads)
            state[f"layers.{i}.{ours}"] = v
        elif key in ("embed_tokens.weight", "norm.weight"):  # a bare LlamaModel without the model. prefix
            state[{"embed_tokens.weight": "tok_embeddings.weight", "norm.weight": "norm.weight"}[key]] = v
        else:
            raise BabyLlamaError(f"{folder}: unexpected tensor {name}; not a plain Llama checkpoint")
    if not cfg.tie_embeddings and "output.weight" not in state:
        raise BabyLlamaError(f"{folder}: tie_word_embeddings is false but there is no lm_head.weight")
    model = build_model(cfg, state, folder)
    tokenizer = read_hf_tokenizer(folder, meta) if with_tokenizer else None
    info = {"format": "hf", "path": str(folder), "dtype": "/".join(dtypes),
            "description": f"Hugging Face transformers Llama folder ({source})", "notes": []}
    return model, tokenizer, info


def read_hf_tokenizer(folder: Path, meta: dict[str, Any]) -> Any | None:
    """tokenizer.model (SentencePiece) as a Tokenizer, else tokenizer.json as a BPETokenizer."""
    if (folder / "tokenizer.model").is_file():
        return Tokenizer.load(folder / "tokenizer.model")
    if (folder / "tokenizer.json").is_file():
        tcfg = read_json(folder / "tokenizer_config.json") if (folder / "tokenizer_config.json").is_file() else {}
        return BPETokenizer.from_file(folder / "tokenizer.json", bos_id=meta.get("bos_token_id"),
                                      eos_id=_first(meta.get("eos_token_id")),
                                      add_bos=bool(tcfg.get("add_bos_token", True)))
    return None


def _first(x: Any) -> Any:
    return x[0] if isinstance(x, list) and x else x
