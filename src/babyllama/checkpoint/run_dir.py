"""Resumable checkpoints of a training run.

    run_dir/checkpoints/step_000500/   a model folder (config.json, model.safetensors, tokenizer.model)
                                       plus state.pt: optimizer, step, data cursor, RNG states, scaler,
                                       config hash, metrics so far
    run_dir/checkpoints/latest         text file naming the newest complete checkpoint

A model that is not a Llama (a classifier, say) has no config to write: its folder holds only its
plain state_dict as model.safetensors (see save_module_weights / load_module_weights).

Each checkpoint folder is built under a temporary name and renamed into place, so a crash never
leaves a half-written checkpoint behind `latest`. state.pt holds only tensors and plain Python
values, so it loads with torch.load(weights_only=True).
"""
from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_model as _load_plain, save_model as _save_plain

from babyllama.checkpoint.model_dir import load_llama_weights, save_model
from babyllama.model import Llama
from babyllama.utils.io import BabyLlamaError, atomic_dir, atomic_write_text

if TYPE_CHECKING:
    from babyllama.tokenizer import Tokenizer

STEP_DIR = re.compile(r"^step_(\d+)$")


# ---------------------------------------------------------------- RNG and plain values

def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and Python RNG states as tensors and plain values."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": {"version": py_version, "internal": torch.tensor(py_internal, dtype=torch.int64),
                   "gauss": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["internal"].tolist()), p["gauss"]))


def to_plain(obj: Any) -> Any:
    """Replace numpy arrays and scalars by tensors / Python numbers so weights_only loading works."""
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj)), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    return obj


def from_plain(obj: Any) -> Any:
    """Undo to_plain."""
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return obj["__ndarray__"].numpy().astype(obj["dtype"])
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_plain(v) for v in obj)
    return obj


# ---------------------------------------------------------------- checkpoint folders

def checkpoints_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoint folders, oldest first."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = STEP_DIR.match(p.name)
        if m and (p / "state.pt").is_file() and (p / "model.safetensors").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The folder named by checkpoints/latest (or the newest complete one if that file is stale)."""
    root = checkpoints_dir(run_dir)
    marker = root / "latest"
    if marker.is_file():
        p = root / marker.read_text(encoding="utf-8").strip()
        if (p / "state.pt").is_file():
            return p
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(run_dir: str | os.PathLike, step: int, model: torch.nn.Module, state: dict[str, Any],
                    tokenizer: "Tokenizer | None" = None, keep: int = 2) -> Path:
    """Write checkpoints/step_XXXXXX atomically, point `latest` at it and keep the newest `keep`."""
    root = checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    with atomic_dir(final) as tmp:
        if isinstance(model, Llama):
            save_model(model, tmp, tokenizer, extra={"checkpoint_step": step})
        else:
            save_module_weights(model, tmp / "model.safetensors")
        with open(tmp / "state.pt", "wb") as f:
            torch.save(to_plain(state), f)
            f.flush()
            os.fsync(f.fileno())
    atomic_write_text(root / "latest", final.name + "\n")
    for _, old_dir in list_checkpoints(run_dir)[:-keep]:
        if old_dir != final:
            shutil.rmtree(old_dir, ignore_errors=True)
    return final


def save_module_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """A non-Llama model's plain state_dict in safetensors (tied tensors stored once)."""
    _save_plain(model, str(path))


def load_module_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Load checkpoint weights: a Llama through load_llama_weights, any other model from its
    plain state_dict (strict)."""
    if isinstance(model, Llama):
        load_llama_weights(model, path)
        return
    try:
        _load_plain(model, str(path), strict=True)
    except Exception as e:  # a missing, truncated or foreign file
        raise BabyLlamaError(f"{path}: cannot load the model's weights ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200]})") from None


def load_state(ckpt_dir: str | os.PathLike) -> dict[str, Any]:
    """Read state.pt (weights_only: tensors and plain values only)."""
    path = Path(ckpt_dir) / "state.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BabyLlamaError(f"{path}: checkpoint state not found") from None
    except Exception as e:  # a truncated or foreign file
        raise BabyLlamaError(f"{path}: cannot read checkpoint state ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise BabyLlamaError(f"{path}: not a babyllama training state")
    return from_plain(state)


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A model folder from a model folder, a run folder (its model/, else its latest checkpoint) or a
    checkpoint folder."""
    p = Path(path)
    if (p / "config.json").is_file():
        return p
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if (p / "checkpoints").is_dir():
        ckpt = latest_checkpoint(p)
        if ckpt is not None:
            return ckpt
    raise BabyLlamaError(f"{p}: not a model folder (config.json), a run folder (model/ or checkpoints/) "
                         f"or a checkpoint folder")
