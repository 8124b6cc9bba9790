"""A training run's folder, and the resumable checkpoints in it.

    run_dir/config.toml                the run's settings
    run_dir/metrics.jsonl              one JSON record per logged step (see report.plots.read_metrics)
    run_dir/checkpoints/step_000500/   a model folder (config.json, model.safetensors, tokenizer.model)
                                       plus state.pt: optimizer, step, data cursor, RNG states, scaler,
                                       config hash, metrics so far
                                       (train.parallel = "fsdp": dcp/ sharded model and optimizer
                                       + state.pt instead; see train/sharded_checkpoints.py)
    run_dir/checkpoints/latest         text file naming the newest complete checkpoint
    run_dir/model/                     the final model folder
    run_dir/loss.png, samples.txt      the loss plot and the samples printed during training
    run_dir/record.json                the run record (report/records.py): setup, metrics, evaluations
    run_dir/tensorboard/               TensorBoard event files, with train.tensorboard = true

A model that is not a Llama (a classifier, say) has no config to write: its checkpoint folder holds
only its plain state_dict as model.safetensors (see save_module_weights / load_module_weights).

Each checkpoint folder is built under a temporary name and renamed into place, so a crash never
leaves a half-written checkpoint behind `latest` (`remove_stale_temporaries` clears what a crash
leaves beside it). state.pt holds only tensors and plain Python values, so it loads with
torch.load(weights_only=True).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from safetensors.torch import load_model as _load_plain, save_model as _save_plain

from babyllama.checkpoint.model_dir import load_llama_weights, save_model
from babyllama.model import Llama
from babyllama.utils.io import BabyLlamaError, atomic_dir, atomic_write_text

if TYPE_CHECKING:
    from babyllama.tokenizers import Tokenizer

CONFIG_FILE, METRICS_FILE, LOSS_PLOT, SAMPLES_FILE = "config.toml", "metrics.jsonl", "loss.png", "samples.txt"
MODEL_DIR, CHECKPOINTS_DIR, RECORD_FILE, TENSORBOARD_DIR = "model", "checkpoints", "record.json", "tensorboard"
BUDGET_FILE = "budget.json"  # train.max_minutes' choice of max_steps (train/budget.py)
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CHECKPOINTS_DIR, MODEL_DIR, LOSS_PLOT, SAMPLES_FILE, RECORD_FILE,
             TENSORBOARD_DIR, BUDGET_FILE)
STEP_DIR = re.compile(r"^step_(\d+)$")
DCP_DIR = "dcp"  # a sharded checkpoint's torch.distributed.checkpoint files (train/sharded_checkpoints.py)
# what babyllama.utils.io's atomic writes leave when killed: ".NAME.XXXX.tmp" and ".NAME.PID.old"
TEMPORARY = re.compile(r"^\.(.+)\.[^.]+\.tmp$")
MOVED_ASIDE = re.compile(r"^\.(.+)\.\d+\.old$")


# ---------------------------------------------------------------- plain values for state.pt

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
    return Path(run_dir) / CHECKPOINTS_DIR


def checkpoint_dir(run_dir: str | os.PathLike, step: int) -> Path:
    return checkpoints_dir(run_dir) / f"step_{step:06d}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoint folders, oldest first."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = STEP_DIR.match(p.name)
        weights = (p / "model.safetensors").is_file() or (p / DCP_DIR / ".metadata").is_file()
        if m and (p / "state.pt").is_file() and weights:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The folder named by checkpoints/latest (or the newest complete one if that file is stale)."""
    found = checkpoints_newest_first(run_dir)
    return found[0] if found else None


def checkpoints_newest_first(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders to resume from, in order of preference: the one `latest` names,
    then the others from newest to oldest."""
    root = checkpoints_dir(run_dir)
    found = [p for _, p in reversed(list_checkpoints(run_dir))]
    marker = root / "latest"
    if marker.is_file():
        named = root / marker.read_text(encoding="utf-8", errors="replace").strip()
        if named in found:
            found.remove(named)
            found.insert(0, named)
    return found


def save_checkpoint(run_dir: str | os.PathLike, step: int, model: torch.nn.Module, state: dict[str, Any],
                    tokenizer: "Tokenizer | None" = None, keep: int = 2) -> Path:
    """Write checkpoints/step_XXXXXX atomically, point `latest` at it and keep the newest `keep`."""
    root = checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir(run_dir, step)
    with atomic_dir(final) as tmp:
        if isinstance(model, Llama):
            save_model(model, tmp, tokenizer, extra={"checkpoint_step": step})
        else:
            save_module_weights(model, tmp / "model.safetensors")
        write_state(tmp / "state.pt", state)
    mark_latest(run_dir, final, keep)
    return final


def write_state(path: Path, state: dict[str, Any]) -> None:
    """state.pt (plain values, see to_plain), flushed to disk before the folder is renamed into place."""
    with open(path, "wb") as f:
        torch.save(to_plain(state), f)
        f.flush()
        os.fsync(f.fileno())


def mark_latest(run_dir: str | os.PathLike, final: Path, keep: int) -> None:
    """Point checkpoints/latest at the complete checkpoint `final` and keep only the newest `keep`."""
    atomic_write_text(checkpoints_dir(run_dir) / "latest", final.name + "\n")
    for _, old_dir in list_checkpoints(run_dir)[:-keep]:
        if old_dir != final:
            shutil.rmtree(old_dir, ignore_errors=True)


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
        raise BabyLlamaError(f"{path}: cannot load the model's weights ({_first_line(e)})") from None


def load_checkpoint_state(ckpt_dir: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint's state.pt (weights_only: tensors and plain values only)."""
    path = Path(ckpt_dir) / "state.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BabyLlamaError(f"{path}: checkpoint state not found") from None
    except Exception as e:  # a truncated or foreign file
        raise BabyLlamaError(f"{path}: cannot read checkpoint state ({_first_line(e)})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise BabyLlamaError(f"{path}: not a babyllama training state")
    return from_plain(state)


def load_newest_checkpoint(run_dir: str | os.PathLike, model: torch.nn.Module,
                           warn: Callable[[str], None]) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest readable checkpoint's weights into `model` and return (its folder, its state);
    None when the run has no checkpoint. A damaged one (a truncated state.pt or model.safetensors)
    is named in one `warn` line and the previous one is tried."""
    found = checkpoints_newest_first(run_dir)
    for i, ckpt in enumerate(found):
        if (ckpt / DCP_DIR).is_dir():
            raise BabyLlamaError(f"{ckpt}: a sharded checkpoint (train.parallel = 'fsdp'); resume it with "
                                 f"train.parallel=fsdp")
        try:
            state = load_checkpoint_state(ckpt)
            load_module_weights(model, ckpt / "model.safetensors")  # every tensor, so a partial load is overwritten
            return ckpt, state
        except BabyLlamaError as e:
            then = f"falling back to {found[i + 1].name}" if i + 1 < len(found) else "no older checkpoint left"
            warn(f"warning: damaged checkpoint {ckpt}: {' '.join(str(e).splitlines())}; {then}")
    if found:
        raise BabyLlamaError(f"{run_dir}: every checkpoint is damaged; start the run again with --overwrite")
    return None


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Clear what interrupted atomic writes left in the run folder and its checkpoints/: temporary
    files and folders are removed; a folder moved aside whose replacement never arrived is put back.
    Returns what was removed. Call it only when no other process writes into this run."""
    removed = []
    for folder in (Path(run_dir), checkpoints_dir(run_dir)):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            aside = MOVED_ASIDE.match(p.name)
            if aside and not (folder / aside.group(1)).exists():
                os.replace(p, folder / aside.group(1))
            elif aside or TEMPORARY.match(p.name):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A model folder from a model folder, a run folder (its model/, else its latest checkpoint) or a
    checkpoint folder."""
    p = Path(path)
    if (p / "config.json").is_file():
        return p
    if (p / MODEL_DIR / "config.json").is_file():
        return p / MODEL_DIR
    if checkpoints_dir(p).is_dir():
        ckpt = latest_checkpoint(p)
        if ckpt is not None:
            return ckpt
    raise BabyLlamaError(f"{p}: not a model folder (config.json), a run folder (model/ or checkpoints/) "
                         f"or a checkpoint folder")


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"
