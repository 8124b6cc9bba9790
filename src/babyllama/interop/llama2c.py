"""llama2.c checkpoints: the `.bin` files of its export.py and the `.pt` files of its train.py.

.bin layouts (all little-endian; L = n_layers; "each" = one tensor per layer, layer-major):
  v0 (legacy): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len); a negative
      vocab_size means a separate classifier. fp32: tok_embeddings, attention_norm each, wq, wk, wv, wo,
      ffn_norm, w1, w2, w3 each, norm, freq_cis_real and freq_cis_imag (seq_len * head_dim/2 each,
      ignored: we recompute RoPE), [output].
  v1: uint32 magic 0x616b3432 ("ak42"), int32 version 1, the 7 int32, uint8 shared_classifier, zero
      padding to 256 bytes. fp32: attention_norm each, ffn_norm each, norm, tok_embeddings, wq, wk, wv,
      wo, w1, w2, w3 each, [output].
  v2: as v1 with version 2 and an int32 group_size right after the flag (byte 37). fp32 norms as v1,
      then int8 Q8_0 values of tok_embeddings, wq, wk, wv, wo, w1, w2, w3 each, [output], then the fp32
      scales (one per group) of the same tensors in the same order. We dequantize on load.
llama2.c uses RMSNorm eps 1e-5 and RoPE theta 10000; run.c reads v0, runq.c reads v2.
"""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babyllama.interop import build_model, file_size_error, make_config, our_state
from babyllama.model import Llama, LlamaConfig, unwrap_model
from babyllama.utils.io import BabyLlamaError, atomic_path

MAGIC = 0x616B3432
HEADER_BYTES = 256
_MAX_DIM = 1 << 24

_LAYER_MATS = ("attention.wq", "attention.wk", "attention.wv", "attention.wo",
               "feed_forward.w1", "feed_forward.w2", "feed_forward.w3")


def _header_fields(ints: tuple[int, ...]) -> dict[str, int]:
    keys = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len")
    return dict(zip(keys, ints))


def _plausible(h: dict[str, int]) -> bool:
    return all(0 < abs(v) < _MAX_DIM for v in h.values()) and all(
        h[k] > 0 for k in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "max_seq_len"))


def _config(h: dict[str, int], shared: bool, where: Path) -> LlamaConfig:
    return make_config(where, dim=h["dim"], hidden_dim=h["hidden_dim"], n_layers=h["n_layers"],
                       n_heads=h["n_heads"], n_kv_heads=h["n_kv_heads"], vocab_size=abs(h["vocab_size"]),
                       max_seq_len=h["max_seq_len"], tie_embeddings=shared, norm_eps=1e-5, rope_theta=10000.0)


def _shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of one layer's tensors by our short names."""
    d, h, kv = cfg.dim, cfg.hidden_dim, cfg.n_kv_heads * cfg.head_dim
    return {"attention.wq": (d, d), "attention.wk": (kv, d), "attention.wv": (kv, d), "attention.wo": (d, d),
            "feed_forward.w1": (h, d), "feed_forward.w2": (d, h), "feed_forward.w3": (h, d),
            "attention_norm": (d,), "ffn_norm": (d,)}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _order(cfg: LlamaConfig, version: int) -> list[tuple[str, tuple[int, ...]]]:
    """(our name, shape) of every stored fp32 tensor in file order; '#freq' entries are skipped data."""
    L, V, d = cfg.n_layers, cfg.vocab_size, cfg.dim
    sh = _shapes(cfg)

    def each(part: str) -> list[tuple[str, tuple[int, ...]]]:
        return [(f"layers.{i}.{part}.weight", sh[part]) for i in range(L)]

    emb = [("tok_embeddings.weight", (V, d))]
    mats = [x for part in _LAYER_MATS for x in each(part)]
    out = [] if cfg.tie_embeddings else [("output.weight", (V, d))]
    if version == 0:
        freq = (cfg.max_seq_len, cfg.head_dim // 2)
        return (emb + each("attention_norm") + mats[:4 * L] + each("ffn_norm") + mats[4 * L:]
                + [("norm.weight", (d,)), ("#freq_real", freq), ("#freq_imag", freq)] + out)
    norms = each("attention_norm") + each("ffn_norm") + [("norm.weight", (d,))]
    return norms + emb + mats + out


def _sniff_header(data: bytes) -> tuple[int, dict[str, int], bool, int] | None:
    """(version, header, shared, group_size) from the first 256 bytes, or None when not llama2.c."""
    if len(data) >= 8 and struct.unpack_from("<I", data, 0)[0] == MAGIC:
        version = struct.unpack_from("<i", data, 4)[0]
        if len(data) < 41:
            return version, {}, True, 0
        h = _header_fields(struct.unpack_from("<7i", data, 8))
        shared = bool(data[36])
        group = struct.unpack_from("<i", data, 37)[0] if version == 2 else 0
        return version, h, shared, group
    if len(data) >= 28:
        h = _header_fields(struct.unpack_from("<7i", data, 0))
        if _plausible(h):
            return 0, h, h["vocab_size"] > 0, 0
    return None


def expected_size(version: int, cfg: LlamaConfig, group_size: int = 0) -> int:
    order = _order(cfg, version)
    if version == 0:
        return 28 + 4 * sum(_numel(s) for _, s in order)
    if version == 1:
        return HEADER_BYTES + 4 * sum(_numel(s) for _, s in order)
    quant = [s for name, s in order if len(s) == 2]
    norms = [s for name, s in order if len(s) == 1]
    n_q = sum(_numel(s) for s in quant)
    return HEADER_BYTES + 4 * sum(_numel(s) for s in norms) + n_q + 4 * (n_q // group_size)


def sniff(path: str | os.PathLike) -> int | None:
    """llama2.c .bin version (0, 1, 2) if the content looks like one, else None.
    A legacy v0 file has no magic, so it counts only when its size matches its header exactly."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    found = _sniff_header(head)
    if found is None:
        return None
    version, h, shared, group = found
    if version in (1, 2):
        return version
    if version != 0:
        return None
    try:
        cfg = _config(h, shared, path)
    except BabyLlamaError:
        return None
    return 0 if path.stat().st_size == expected_size(0, cfg) else None


def read_bin(path: str | os.PathLike) -> tuple[Llama, dict[str, Any]]:
    """Load a llama2.c export.py `.bin` (v0 legacy, v1 fp32, v2 Q8_0) into a float32 Llama."""
    path = Path(path)
    if not path.is_file():
        raise BabyLlamaError(f"{path}: file not found")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    found = _sniff_header(head)
    if found is None:
        raise BabyLlamaError(f"{path}: not a llama2.c .bin (no 'ak42' magic and the first 28 bytes are not a "
                             f"plausible legacy header)")
    version, h, shared, group = found
    if version not in (0, 1, 2):
        raise BabyLlamaError(f"{path}: llama2.c .bin version {version} is not supported (known: 0, 1, 2)")
    if version and size < HEADER_BYTES:
        raise file_size_error(path, f"llama2.c v{version} file", HEADER_BYTES, size)
    if not _plausible(h):
        raise BabyLlamaError(f"{path}: llama2.c v{version} header has impossible values {h}")
    cfg = _config(h, shared, path)
    if version == 2:
        if group <= 0 or cfg.dim % group:
            raise BabyLlamaError(f"{path}: Q8_0 group_size {group} in the header does not divide dim {cfg.dim}")
    want = expected_size(version, cfg, group)
    if size != want:
        raise file_size_error(path, f"llama2.c v{version} file", want, size)
    raw = np.fromfile(path, dtype=np.uint8)
    state = _decode(raw, cfg, version, group)
    model = build_model(cfg, state, path)
    names = {0: "llama2c-v0", 1: "llama2c-v1", 2: "llama2c-v2"}
    info = {"format": names[version], "path": str(path),
            "dtype": "int8 Q8_0 (group %d), dequantized to float32" % group if version == 2 else "float32",
            "description": f"llama2.c export.py .bin version {version}"
                           + (" (legacy, no magic)" if version == 0 else "")
                           + ("; classifier tied to the embedding" if shared else "; separate classifier")}
    return model, info


def _decode(raw: np.ndarray, cfg: LlamaConfig, version: int, group: int) -> dict[str, torch.Tensor]:
    order = _order(cfg, version)
    state: dict[str, torch.Tensor] = {}
    off = 28 if version == 0 else HEADER_BYTES
    if version in (0, 1):
        for name, shape in order:
            n = _numel(shape)
            if not name.startswith("#"):
                arr = raw[off:off + 4 * n].view("<f4").reshape(shape)
                state[name] = torch.from_numpy(arr.astype(np.float32))
            off += 4 * n
        return state
    norms = [(n, s) for n, s in order if len(s) == 1]
    quant = [(n, s) for n, s in order if len(s) == 2]
    for name, shape in norms:
        state[name] = torch.from_numpy(raw[off:off + 4 * shape[0]].view("<f4").astype(np.float32))
        off += 4 * shape[0]
    qs = []
    for name, shape in quant:
        n = _numel(shape)
        qs.append(raw[off:off + n].view(np.int8))
        off += n
    for (name, shape), q in zip(quant, qs):
        n_groups = q.size // group
        scale = raw[off:off + 4 * n_groups].view("<f4").astype(np.float32)
        off += 4 * n_groups
        w = q.reshape(n_groups, group).astype(np.float32) * scale[:, None]
        state[name] = torch.from_numpy(w.reshape(shape))
    return state


def write_bin(model: Llama, path: str | os.PathLike, version: int = 0) -> Path:
    """Write a llama2.c `.bin`: version 0 (legacy, what run.c reads) or 1 (fp32 with a 256-byte header).
    The file appears atomically."""
    if version not in (0, 1):
        raise BabyLlamaError(f"llama2.c export version {version} is not supported; use 0 (legacy) or 1")
    path = Path(path)
    m = unwrap_model(model)
    cfg = m.config
    if cfg.rope_theta != 10000.0 or cfg.norm_eps != 1e-5:
        raise BabyLlamaError(f"{path}: llama2.c hard-codes rope_theta 10000 and norm_eps 1e-5; this model has "
                             f"rope_theta {cfg.rope_theta} and norm_eps {cfg.norm_eps}, so llama2.c would run it "
                             f"wrongly; export to hf or gguf instead")
    state = our_state(m)
    shared = cfg.tie_embeddings
    ints = (cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size, cfg.max_seq_len)
    if version == 0:
        v = cfg.vocab_size if shared else -cfg.vocab_size
        header = struct.pack("<7i", *ints[:5], v, ints[6])
    else:
        header = struct.pack("<Ii7iB", MAGIC, 1, *ints, int(shared))
        header += b"\0" * (HEADER_BYTES - len(header))
    half = cfg.head_dim // 2
    inv = 1.0 / (10000.0 ** (torch.arange(0, cfg.head_dim, 2).float()[:half] / cfg.head_dim))
    angles = torch.outer(torch.arange(cfg.max_seq_len).float(), inv)
    freq = {"#freq_real": angles.cos(), "#freq_imag": angles.sin()}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(header)
        for name, _ in _order(cfg, version):
            t = freq[name] if name.startswith("#") else state[name]
            f.write(t.numpy().astype("<f4").tobytes())
    return path


def _strip_prefixes(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in state.items():
        for prefix in ("_orig_mod.", "module."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def load_torch(path: Path) -> Any:
    """torch.load with weights_only=True; anything needing code execution is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise BabyLlamaError(f"{path}: refused: this pickle needs code execution to load ({first[:160]}); "
                             f"babyllama only loads plain tensors (weights_only=True). Re-save it as a dict of "
                             f"tensors or as safetensors in the environment that made it") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BabyLlamaError(f"{path}: cannot read this torch checkpoint ({msg[:160]}); truncated or corrupted?") from None


def read_pt(path: str | os.PathLike) -> tuple[Llama, dict[str, Any]]:
    """Load a llama2.c train.py checkpoint ({'model_args': ..., 'model': state dict, ...})."""
    path = Path(path)
    ckpt = load_torch(path)
    if not isinstance(ckpt, dict) or "model_args" not in ckpt or "model" not in ckpt:
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise BabyLlamaError(f"{path}: torch checkpoint is not a llama2.c train.py checkpoint (expected keys "
                             f"'model_args' and 'model', found {keys})")
    args, state = ckpt["model_args"], ckpt["model"]
    if not isinstance(args, dict) or not isinstance(state, dict):
        raise BabyLlamaError(f"{path}: 'model_args' and 'model' must be dicts")
    state = _strip_prefixes(state)
    state = {k: v for k, v in state.items() if k not in ("freqs_cos", "freqs_sin")}
    for k in ("dim", "n_layers", "n_heads", "vocab_size", "max_seq_len"):
        if k not in args:
            raise BabyLlamaError(f"{path}: model_args lacks {k!r}")
    w1 = state.get("layers.0.feed_forward.w1.weight")
    emb = state.get("tok_embeddings.weight")
    if w1 is None or emb is None:
        raise BabyLlamaError(f"{path}: state dict lacks tok_embeddings.weight or layers.0.feed_forward.w1.weight; "
                             f"not a llama2.c model")
    out = state.get("output.weight")
    tied = out is None or (out.shape == emb.shape and torch.equal(out, emb))
    cfg = make_config(path, dim=int(args["dim"]), n_layers=int(args["n_layers"]), n_heads=int(args["n_heads"]),
                      n_kv_heads=args.get("n_kv_heads") or int(args["n_heads"]),
                      vocab_size=int(args["vocab_size"]), hidden_dim=int(w1.shape[0]),
                      norm_eps=float(args.get("norm_eps", 1e-5)), max_seq_len=int(args["max_seq_len"]),
                      tie_embeddings=tied, rope_theta=10000.0)
    model = build_model(cfg, state, path)
    dtype = str(emb.dtype).replace("torch.", "")
    info = {"format": "llama2c-pt", "path": str(path), "dtype": dtype,
            "description": "llama2.c train.py PyTorch checkpoint (model_args + model state dict)"
                           + (f", trained {ckpt['iter_num']} iterations" if "iter_num" in ckpt else "")}
    return model, info
