"""Run records: `record.json` in a run folder, the machine-readable account of a run.

    {"format": "babyllama-run-record", "version": 1, "task": "pretrain", "status": "finished",
     "babyllama": {version, git_commit, git_dirty}, "config": {...}, "data": {manifest summary},
     "hardware": {device, cpu, gpu, threads, processes, precision}, "model": {params, flops_per_token},
     "progress": {step, tokens, wall_time_s, tokens_per_s}, "final": {...}, "best": {...},
     "samples": [...], "evaluations": [{"name", "time", "result"}, ...]}

The training loop writes it (train/run_files.py: RunRecord) at the start ("running") and at the end
("finished", "stopped" or "failed"); evaluations append to it with `add_evaluation`. `load_run` reads
any run folder, old ones without record.json included (from config.toml and metrics.jsonl).
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babyllama.checkpoint.run_dir import CONFIG_FILE, METRICS_FILE, MODEL_DIR, RECORD_FILE
from babyllama.report.plots import read_metrics
from babyllama.utils.io import BabyLlamaError, atomic_write_json, read_json

RECORD_FORMAT, RECORD_VERSION = "babyllama-run-record", 1
FINISHED = "finished"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- what the record says about the setup

def code_version() -> dict[str, Any]:
    """babyllama's version and, when the package sits in a git checkout, its commit and whether the
    tracked files differ from it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("babyllama")
    except PackageNotFoundError:  # run from a source tree that is not installed
        ours = None
    out: dict[str, Any] = {"version": ours, "git_commit": None, "git_dirty": None}
    where = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10)
            out["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def hardware(device: Any, precision: str | None = None, processes: int = 1) -> dict[str, Any]:
    """The device a run used: CPU model, GPU name (CUDA), torch threads, processes, precision."""
    import torch

    gpu = None
    if getattr(device, "type", str(device)) == "cuda":
        gpu = torch.cuda.get_device_name(device)
    return {"device": str(device), "cpu": cpu_name(), "gpu": gpu, "threads": torch.get_num_threads(),
            "processes": processes, "precision": precision, "torch": torch.__version__,
            "python": platform.python_version()}


def manifest_summary(manifest: dict[str, Any], data_dir: str | os.PathLike) -> dict[str, Any]:
    """The parts of a prepared data folder's manifest.json a report needs: per split documents,
    tokens, bytes and bytes/token, the tokenizer's hash and the sources."""
    splits = {}
    for name, sp in manifest.get("splits", {}).items():
        splits[name] = {"documents": sp["documents"], "tokens": sp["tokens"], "bytes": sp["bytes"],
                        "bytes_per_token": sp["bytes"] / sp["tokens"] if sp["tokens"] else None}
    tok = manifest.get("tokenizer") or {}
    return {"data_dir": str(data_dir), "vocab_size": manifest.get("vocab_size"),
            "tokenizer_sha256": tok.get("sha256"), "splits": splits, "sources": manifest.get("sources")}


# ---------------------------------------------------------------- reading and writing record.json

def read_record(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """run_dir/record.json, or None when there is none. A damaged one is a BabyLlamaError."""
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        return None
    rec = read_json(path)
    if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT:
        raise BabyLlamaError(f"{path}: not a babyllama run record (key 'format' is not {RECORD_FORMAT!r})")
    return rec


def write_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write record.json atomically, keeping the evaluations already in the file."""
    path = Path(run_dir) / RECORD_FILE
    evaluations = (read_record(run_dir) or {}).get("evaluations", [])
    out = {"format": RECORD_FORMAT, "version": RECORD_VERSION, **record, "updated": now(),
           "evaluations": evaluations}
    atomic_write_json(path, out)
    return path


def add_evaluation(run_dir: str | os.PathLike, name: str, result: dict[str, Any]) -> Path:
    """Append an evaluation's result (plain JSON values) to run_dir/record.json, creating a minimal
    record for a run folder that has none (an old run)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BabyLlamaError(f"{run_dir}: run folder not found")
    rec = read_record(run_dir) or {"format": RECORD_FORMAT, "version": RECORD_VERSION, "evaluations": []}
    rec.setdefault("evaluations", []).append({"name": name, "time": now(), "result": result})
    rec["updated"] = now()
    atomic_write_json(run_dir / RECORD_FILE, rec)
    return run_dir / RECORD_FILE


def read_samples(path: str | os.PathLike) -> list[str]:
    """The texts of the last block of a samples.txt ("=== label (step N) ===" then "--- sample i")."""
    path = Path(path)
    if not path.is_file():
        return []
    blocks = path.read_text(encoding="utf-8", errors="replace").split("=== ")
    last = blocks[-1] if len(blocks) > 1 else ""
    parts = last.split("\n--- sample ")[1:]
    return [p.split("\n", 1)[1].rstrip("\n") if "\n" in p else "" for p in parts]


def metric_summary(metrics: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(final, best) from metrics.jsonl records: the last train loss, val loss and bits per byte,
    and the lowest val loss with its step (and that step's bits per byte)."""
    final: dict[str, Any] = {"step": None, "train_loss": None, "val_loss": None, "val_bpb": None}
    for r in metrics:
        final["step"] = r["step"]
        for key, name in (("loss", "train_loss"), ("val_loss", "val_loss"), ("val_bpb", "val_bpb")):
            if r.get(key) is not None:
                final[name] = r[key]
    vals = [r for r in metrics if r.get("val_loss") is not None]
    best: dict[str, Any] = {"val_loss": None, "step": None, "val_bpb": None}
    if vals:
        b = min(vals, key=lambda r: r["val_loss"])
        best = {"val_loss": b["val_loss"], "step": b["step"], "val_bpb": b.get("val_bpb")}
    return final, best


# ---------------------------------------------------------------- any run folder, for reports

@dataclass
class Run:
    """A run folder as a report sees it. `record` is record.json, or one built from config.toml and
    metrics.jsonl for an old folder; `finished` is False for a run that stopped, failed or was killed."""
    path: Path
    record: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        return self.record.get("status", "unknown")

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    @property
    def task(self) -> str:
        return self.record.get("task") or "pretrain"

    def setting(self, key: str) -> Any:
        """A config value by dotted name (optim.lr), or None."""
        section, _, name = key.partition(".")
        return (self.record.get("config") or {}).get(section, {}).get(name)

    def metric(self, name: str) -> Any:
        """final.val_loss, best.val_loss, progress.tokens_per_s, model.params... by dotted name."""
        part, _, key = name.partition(".")
        return (self.record.get(part) or {}).get(key)


def is_run_dir(path: Path) -> bool:
    return (path / RECORD_FILE).is_file() or (path / METRICS_FILE).is_file() or (path / CONFIG_FILE).is_file()


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read a run folder: record.json when there is one, completed from metrics.jsonl (a run killed
    while training has a record saying 'running', and newer metrics than its record)."""
    path = Path(run_dir)
    if not path.is_dir() or not is_run_dir(path):
        raise BabyLlamaError(f"{path}: not a run folder (no record.json, metrics.jsonl or config.toml)")
    metrics = read_metrics(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else []
    rec = read_record(path)
    if rec is None or "config" not in rec:
        rec = {**_record_from_files(path), "evaluations": (rec or {}).get("evaluations", [])}
    if metrics and (rec.get("status") != FINISHED or "final" not in rec):
        rec["final"], rec["best"] = metric_summary(metrics)
        if "progress" not in rec:
            timed = [r for r in metrics if "elapsed" in r]
            rec["progress"] = {"step": metrics[-1]["step"],
                               "tokens": max((r["tokens"] for r in metrics if "tokens" in r), default=None),
                               "wall_time_s": timed[-1]["elapsed"] if timed else None}
    if rec.get("status") in (None, "running"):
        rec["status"] = "unfinished"  # a run killed while training
    return Run(path, rec, metrics)


def _record_from_files(path: Path) -> dict[str, Any]:
    """What an old run folder tells without record.json: its config and whether it finished."""
    from babyllama.config import load_config

    config: dict[str, Any] = {}
    if (path / CONFIG_FILE).is_file():
        try:
            config = load_config(path / CONFIG_FILE).to_dict()
        except BabyLlamaError:
            config = {}
    finished = (path / MODEL_DIR / "config.json").is_file()
    return {"format": RECORD_FORMAT, "version": RECORD_VERSION, "task": "pretrain",
            "status": FINISHED if finished else "unfinished", "config": config}
