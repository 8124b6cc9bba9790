"""A sweep: every combination of a grid of settings, each with several seeds, in one folder.

    run_sweep("recipes/quickstart.toml", ["optim.lr=1e-3,2e-3,4e-3"], seeds=3, out="runs/sweep_lr",
              overrides=["optim.max_steps=150"])

The folder holds sweep.json (the plan: recipe, overrides, grid, seeds and every run), one run folder
per cell and seed (CELL/seed_N, a normal run folder with record.json) and, at the end,
summary.csv / summary.json with mean ± std over seeds per cell (report/summary.py). Run again, it
skips finished runs, resumes those with a checkpoint and restarts the others; a folder holding a
different plan is refused.

A compute-optimal sizing study is a sweep with `flops`: each budget C becomes a grid dimension, and
each run trains for tokens = C / (6 N) (N = the model's parameters, the embedding included because
it is the tied output matrix), so optim.max_steps = tokens / tokens per step.

Runs go one after another in this process, or with `devices` (e.g. cuda:0,cuda:1) one process per
device, each running `python -m babyllama pretrain` for the next waiting run.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

from babyllama.checkpoint.run_dir import CONFIG_FILE, list_checkpoints
from babyllama.config import SECTIONS, TrainConfig, load_config
from babyllama.report.records import load_run, read_record
from babyllama.report.summary import FLOPS_KEY, PLAN_FILE, group_cells, write_summary
from babyllama.utils.io import BabyLlamaError, atomic_write_json, read_json

RESERVED = ("train.run_dir", "train.seed")


@dataclass
class SweepRun:
    cell: str                  # folder name of the cell
    settings: dict[str, str]   # grid key -> value as written
    seed: int
    run_dir: Path
    overrides: list[str]       # what load_config(recipe, overrides) needs for this run
    params: int | None = None  # model parameters (sizing studies)


# ---------------------------------------------------------------- the grid

def split_values(text: str) -> list[str]:
    """Split 'a,b,[c,d]' at the commas outside brackets: ['a', 'b', '[c,d]']."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[(" 
        depth -= ch in "])"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def canonical_key(key: str) -> str:
    """section.key for a key written with or without its section (load_config checked it exists)."""
    if "." in key:
        return key
    owners = [s for s, cls in SECTIONS.items() if key in {f.name for f in fields(cls)}]
    return f"{owners[0]}.{key}" if len(owners) == 1 else key


def parse_grid(items: Sequence[str], recipe: str | None, overrides: Sequence[str] = ()) -> dict[str, list[str]]:
    """{section.key: [values]} from 'section.key=v1,v2' items. Each value is checked as the override
    key=value would be (same messages), on top of the recipe and the overrides."""
    grid: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise BabyLlamaError(f"grid {item!r}: expected section.key=value1,value2, e.g. optim.lr=1e-3,3e-3")
        key, raw = item.split("=", 1)
        values = split_values(raw)
        if not all(values):
            raise BabyLlamaError(f"grid {item!r}: an empty value; separate values with single commas")
        for v in values:
            load_config(recipe, [*overrides, f"{key.strip()}={v}"])  # raises the override's own message
        name = canonical_key(key.strip())
        if name in RESERVED:
            raise BabyLlamaError(f"grid {item!r}: the sweep sets {name} itself (use --seeds and --out)")
        if name in grid:
            raise BabyLlamaError(f"grid {item!r}: {name} appears twice in the grid")
        if len(set(values)) != len(values):
            raise BabyLlamaError(f"grid {item!r}: a value appears twice")
        grid[name] = values
    return grid


def _cell_name(settings: dict[str, str]) -> str:
    name = "__".join(f"{k}={v}" for k, v in settings.items()) or "base"
    return re.sub(r"[^A-Za-z0-9_.=+,\-\[\]]", "_", name)


def model_params(cfg: TrainConfig) -> int:
    """Parameters of the model cfg builds (vocab_size 0 = the data's tokenizer)."""
    vocab = None
    if cfg.model.vocab_size == 0:
        from babyllama.data.prepare import load_manifest

        vocab = load_manifest(cfg.data.data_dir)["vocab_size"]
    return cfg.model.to_llama(vocab_size=vocab, seq_len=cfg.data.seq_len).num_params()


def plan_runs(recipe: str | None, grid: dict[str, list[str]], seeds: Sequence[int], out: Path,
              overrides: Sequence[str] = (), flops: Sequence[str] = ()) -> list[SweepRun]:
    """Every (cell, seed) with its overrides; each run's config is built now, so a bad combination
    fails before anything trains."""
    dims = ({FLOPS_KEY: list(flops)} if flops else {}) | grid
    runs = []
    for combo in itertools.product(*dims.values()):
        settings = dict(zip(dims, combo))
        cell = _cell_name(settings)
        base = [*overrides, *(f"{k}={v}" for k, v in settings.items() if k != FLOPS_KEY)]
        params = None
        if flops:
            cfg = load_config(recipe, base)
            params = model_params(cfg)
            per_step = cfg.data.batch_size * cfg.train.grad_accum * cfg.data.seq_len
            steps = max(1, round(float(settings[FLOPS_KEY]) / (6 * params) / per_step))
            base += [f"optim.max_steps={steps}", f"optim.warmup_steps={min(cfg.optim.warmup_steps, steps // 10)}"]
        for seed in seeds:
            run_dir = out / cell / f"seed_{seed}"
            ov = [*base, f"train.seed={seed}", f"train.run_dir={run_dir}"]
            load_config(recipe, ov)
            runs.append(SweepRun(cell, settings, seed, run_dir, ov, params))
    return runs


def _plan(recipe: str | None, overrides: Sequence[str], grid: dict[str, list[str]], seeds: Sequence[int],
          flops: Sequence[str], runs: Sequence[SweepRun]) -> dict[str, Any]:
    text = Path(recipe).read_bytes() if recipe else b""
    return {"format": "babyllama-sweep", "version": 1, "recipe": recipe,
            "recipe_sha256": hashlib.sha256(text).hexdigest(), "overrides": list(overrides), "grid": grid,
            "flops": list(flops), "seeds": list(seeds),
            "runs": [{"cell": r.cell, "settings": r.settings, "seed": r.seed, "dir": f"{r.cell}/seed_{r.seed}",
                      "params": r.params} for r in runs]}


def check_folder(out: Path, plan: dict[str, Any]) -> None:
    """Refuse a sweep folder that holds another plan (or other files and no plan)."""
    path = out / PLAN_FILE
    if path.is_file():
        old = read_json(path)
        what = [k for k in ("recipe", "recipe_sha256", "overrides", "grid", "flops", "seeds")
                if not isinstance(old, dict) or old.get(k) != plan[k]]
        if what:
            raise BabyLlamaError(f"{path}: this folder holds a different sweep (its {', '.join(what)} differ); "
                                 f"choose another --out or delete the folder")
    elif out.is_dir() and any(out.iterdir()):
        raise BabyLlamaError(f"{out}: not empty and not a sweep folder (no {PLAN_FILE}); choose another --out")


# ---------------------------------------------------------------- running

def run_sweep(recipe: str | None, grid_items: Sequence[str], *, out: str | os.PathLike, seeds: int = 1,
              overrides: Sequence[str] = (), flops: Sequence[str] = (), devices: Sequence[str] = (),
              log: Callable[[str], None] = print) -> Path:
    """Run the sweep (see the module doc) and return the folder; summary.csv/json are written in it."""
    if seeds < 1:
        raise BabyLlamaError(f"--seeds {seeds}: must be >= 1")
    out = Path(out)
    for f in flops:
        try:
            if float(f) <= 0:
                raise ValueError
        except ValueError:
            raise BabyLlamaError(f"--flops {f!r}: expected a positive number such as 1e12") from None
    grid = parse_grid(grid_items, recipe, overrides)
    first_seed = load_config(recipe, overrides).train.seed
    seed_list = [first_seed + i for i in range(seeds)]
    runs = plan_runs(recipe, grid, seed_list, out, overrides, flops)
    plan = _plan(recipe, overrides, grid, seed_list, flops, runs)
    check_folder(out, plan)
    atomic_write_json(out / PLAN_FILE, plan)
    todo = [r for r in runs if not _finished(r.run_dir)]
    log(f"sweep {out}: {len(runs)} runs ({len(runs) // len(seed_list)} cells x {len(seed_list)} seeds); "
        f"{len(runs) - len(todo)} finished already, {len(todo)} to run")
    stopped = _run_parallel(recipe, todo, devices, out, log) if devices else _run_here(recipe, todo, log)
    summary = write_sweep_summary(out)
    log(f"summary: {summary}")
    if stopped:
        raise KeyboardInterrupt
    return out


def _finished(run_dir: Path) -> bool:
    try:
        rec = read_record(run_dir)
    except BabyLlamaError:
        return False
    return bool(rec) and rec.get("status") == "finished"


def _how_to_start(run_dir: Path) -> tuple[bool, bool]:
    """(resume, overwrite): resume a run with a checkpoint, restart one without."""
    resume = bool(list_checkpoints(run_dir)) and (run_dir / CONFIG_FILE).is_file()
    return resume, not resume


def _run_here(recipe: str | None, runs: Sequence[SweepRun], log: Callable[[str], None]) -> bool:
    """Runs one after another in this process; True if a signal stopped one."""
    from babyllama.train.loop import resume_config, train

    for i, r in enumerate(runs, 1):
        resume, overwrite = _how_to_start(r.run_dir)
        cfg = resume_config(r.run_dir) if resume else load_config(recipe, r.overrides)
        t0 = time.perf_counter()
        res = train(cfg, resume=resume, overwrite=overwrite, quiet=True)
        log(f"[{i}/{len(runs)}] {r.cell} seed {r.seed}: val loss {res.val_loss}, {res.step} steps, "
            f"{time.perf_counter() - t0:.0f}s{' (resumed)' if resume else ''}")
        if res.interrupted:
            return True
    return False


def _run_parallel(recipe: str | None, runs: Sequence[SweepRun], devices: Sequence[str], out: Path,
                  log: Callable[[str], None]) -> bool:
    """One `python -m babyllama pretrain` process per device, each taking the next waiting run; its
    output goes to OUT/logs/CELL__seed_N.log. True if a signal stopped them; a BabyLlamaError naming
    the logs if a run failed (the runs started finish first)."""
    waiting, busy, failed = list(runs), {}, []
    (out / "logs").mkdir(parents=True, exist_ok=True)
    try:
        while waiting or busy:
            for dev in devices:
                if dev not in busy and waiting:
                    r = waiting.pop(0)
                    resume, _ = _how_to_start(r.run_dir)
                    start = ["--resume", str(r.run_dir)] if resume else \
                        [*(["--config", recipe] if recipe else []), "--overwrite", *r.overrides]
                    cmd = [sys.executable, "-m", "babyllama", "pretrain", "--quiet", *start, f"train.device={dev}"]
                    logf = open(out / "logs" / f"{r.cell}__seed_{r.seed}.log", "w", encoding="utf-8")
                    busy[dev] = (r, subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT), logf)
            for dev, (r, proc, logf) in list(busy.items()):
                if proc.poll() is not None:
                    logf.close()
                    del busy[dev]
                    log(f"{r.cell} seed {r.seed} on {dev}: exit {proc.returncode}")
                    if proc.returncode != 0:
                        failed.append(f"{r.cell}__seed_{r.seed}.log")
                        waiting.clear()  # start nothing more; let the others finish
            time.sleep(0.2)
    except KeyboardInterrupt:  # the children got the same Ctrl-C and save a checkpoint; wait for them
        for r, proc, logf in busy.values():
            proc.wait()
            logf.close()
        return True
    if failed:
        raise BabyLlamaError(f"{len(failed)} run(s) failed; see {out / 'logs'}/{failed[0]}")
    return False


def write_sweep_summary(out: str | os.PathLike) -> Path:
    """summary.csv / summary.json of the sweep in `out` from its runs' records."""
    out = Path(out)
    plan = read_json(out / PLAN_FILE)
    keys = ([FLOPS_KEY] if plan.get("flops") else []) + list(plan["grid"])
    runs, settings = [], {}
    for entry in plan["runs"]:
        d = out / entry["dir"]
        if d.is_dir() and any(d.iterdir()):
            run = load_run(d)
            runs.append(run)
            settings[id(run)] = entry["settings"]
    cells = group_cells(runs, keys, settings_of=lambda run: settings[id(run)])
    write_summary(out, cells, extra={"sweep": str(out), "keys": keys, "seeds": plan["seeds"]})
    return out / "summary.csv"
