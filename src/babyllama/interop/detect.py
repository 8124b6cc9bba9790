"""Recognise a checkpoint by its content and load it, whatever project wrote it.

    model, tokenizer, info = read_any(path)     # info["format"], info["description"] say what was found

Recognised (in this order): a folder with config.json of format "babyllama" (ours) or with a
`model_type` (Hugging Face); files starting with b"GGUF" (GGUF), with uint32 0x616b3432 (llama2.c .bin
v1/v2), with a zip or pickle header (torch.save: llama2.c train.py checkpoint, loaded weights_only),
or a 7-int header whose sizes match the file exactly (llama2.c legacy .bin, which has no magic).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import torch

from babyllama.utils.io import BabyLlamaError

FORMATS = ("babyllama", "hf", "gguf", "llama2c-v0", "llama2c-v1", "llama2c-v2", "llama2c-pt")


def sniff(path: str | os.PathLike) -> str:
    """The format name of `path` (one of FORMATS), from its content; BabyLlamaError when unknown."""
    path = Path(path)
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            names = sorted(p.name for p in path.iterdir())[:8]
            raise BabyLlamaError(f"{path}: folder has no config.json (contains {names}); expected a babyllama "
                                 f"or Hugging Face model folder")
        from babyllama.utils.io import read_json

        meta = read_json(cfg)
        if isinstance(meta, dict) and meta.get("format") == "babyllama":
            return "babyllama"
        if isinstance(meta, dict) and "model_type" in meta:
            return "hf"
        raise BabyLlamaError(f"{cfg}: neither a babyllama config (format: babyllama) nor a Hugging Face config "
                             f"(model_type); cannot tell what this folder holds")
    if not path.is_file():
        raise BabyLlamaError(f"{path}: no such file or folder")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(256)
    if head[:4] == b"GGUF":
        return "gguf"
    if len(head) >= 8 and struct.unpack_from("<I", head, 0)[0] == 0x616B3432:
        version = struct.unpack_from("<i", head, 4)[0]
        if version in (1, 2):
            return f"llama2c-v{version}"
        raise BabyLlamaError(f"{path}: llama2.c .bin magic 'ak42' with unknown version {version} (known: 1, 2)")
    from babyllama.interop import llama2c

    if head[:4] == b"PK\x03\x04":
        if _is_torch_zip(path):
            return "llama2c-pt"
        raise BabyLlamaError(f"{path}: a zip archive but not a torch.save checkpoint (no data.pkl inside)")
    if llama2c.sniff(path) == 0:  # before the pickle test: dim=640 starts with the bytes 80 02
        return "llama2c-v0"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # legacy torch.save pickle
        return "llama2c-pt"
    found = llama2c._sniff_header(head)
    if found is not None and found[0] == 0:
        try:
            cfg = llama2c._config(found[1], found[2], path)
        except BabyLlamaError:
            cfg = None
        if cfg is not None:
            want = llama2c.expected_size(0, cfg)
            raise BabyLlamaError(f"{path}: looks like a llama2.c legacy .bin (header dim={cfg.dim}, "
                                 f"n_layers={cfg.n_layers}, vocab={cfg.vocab_size}) but its size is wrong: header "
                                 f"implies {want:,} bytes, file has {size:,} (truncated or corrupted?)")
    if len(head) >= 10 and head[8:10] == b'{"':
        raise BabyLlamaError(f"{path}: a bare safetensors file; pass the model folder that holds it and its "
                             f"config.json instead")
    raise BabyLlamaError(f"{path}: unrecognised checkpoint ({size:,} bytes, starts with {head[:8]!r}); supported: "
                         f"babyllama or Hugging Face folder, GGUF, llama2.c .bin (v0/v1/v2) or train.py .pt")


def _is_torch_zip(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/data.pkl") or n == "data.pkl" for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return True  # a damaged torch archive: let the torch loader report it


def read_any(path: str | os.PathLike, with_tokenizer: bool = True) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """Read any supported checkpoint as it is: (model on the CPU, its own tokenizer or None, info).

    No checks across model and tokenizer here: `babyllama.loading.load` is the loader to call; it
    adds tokenizer overrides, the vocabulary check and the device. info has format, description,
    path, dtype, notes."""
    path = Path(path)
    fmt = sniff(path)
    tok = None
    if fmt == "babyllama":
        from babyllama.checkpoint.model_dir import load_model_dir

        model, tok = load_model_dir(path, with_tokenizer=with_tokenizer)
        dtypes = {str(p.dtype).replace("torch.", "") for p in model.parameters()}
        info = {"format": fmt, "path": str(path), "dtype": "/".join(sorted(dtypes)),
                "description": "babyllama model folder (config.json + model.safetensors)"}
    elif fmt == "hf":
        from babyllama.interop.hf import read_hf

        model, tok, info = read_hf(path, with_tokenizer=with_tokenizer)
    elif fmt == "gguf":
        from babyllama.interop.gguf import read_gguf

        model, tok, info = read_gguf(path, with_tokenizer=with_tokenizer)
    elif fmt == "llama2c-pt":
        from babyllama.interop.llama2c import read_pt

        model, info = read_pt(path)
    else:
        from babyllama.interop.llama2c import read_bin

        model, info = read_bin(path)
    info.setdefault("notes", [])
    return model, tok, info
