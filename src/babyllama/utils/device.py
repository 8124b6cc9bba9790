"""Devices and seeds, shared by every verb and the training loop."""
from __future__ import annotations

import random

import numpy as np
import torch

from babyllama.utils.io import BabyLlamaError


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU has bf16 matrix instructions (AVX512-BF16 or AMX-BF16), from the flags in
    /proc/cpuinfo (False where that file is missing: macOS, Windows)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def pick_device(name: str, setting: str = "--device") -> torch.device:
    """'auto' = CUDA, else MPS, else CPU. An unknown name, or a device this machine lacks, is a
    BabyLlamaError naming `setting` (the flag or config key the user wrote)."""
    name = str(name).strip()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise BabyLlamaError(f"{setting} = {name!r}: unknown device; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BabyLlamaError(f"{setting} = {name!r} but no CUDA GPU is available; use auto or cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BabyLlamaError(f"{setting} = {name!r} but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    elif dev.type == "mps" and not _mps_available():
        raise BabyLlamaError(f"{setting} = {name!r} but MPS is not available; use auto or cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise BabyLlamaError(f"{setting} = {name!r}: unsupported device type; use auto, cpu, cuda, cuda:N or mps")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
