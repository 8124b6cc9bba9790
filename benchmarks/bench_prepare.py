"""Data preparation throughput and peak memory: `babyllama prepare` with 1 and 2 workers against the way HF
users do it (`datasets` load_dataset("json") + map(num_proc=N) with the same SentencePiece tokenizer, then
the ids written to one flat uint16 file, as nanoGPT's OpenWebText script does).

    python benchmarks/bench_prepare.py                      # ~1 GB corpus (the full benchmark)
    python benchmarks/bench_prepare.py --size-mb 30         # a quick look
    python benchmarks/bench_prepare.py --corpus wikitext --size-mb 200 --runs ours

The corpus is JSONL made on the fly under --tmp (built-in stories, or WikiText-2 paragraphs from
/work/shared/data/wikitext2, drawn with a fixed seed and repeated until the size is reached) and deleted at the
end; nothing is committed. Every run is a fresh subprocess: MB/s is input bytes over its wall time, peak RSS
is the largest VmHWM of the main process and of any worker process (RUSAGE_CHILDREN); CPU seconds (user +
system) of the main process and of its workers show the work done whatever else runs on the machine. Our RSS flatness shows
as the 1-worker peak on an input 1/8 the size next to the full one. The datasets path's RSS includes pages of
its memory-mapped Arrow cache (file-backed). Needs `datasets` (pip install datasets); runs offline.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

TOKENIZER = Path("/work/shared/data/llama2c_tokenizer/tokenizer.model")
WIKITEXT = Path("/work/shared/data/wikitext2/wiki.test.raw")
RUNS = ("ours", "datasets")


def make_corpus(path: Path, size_mb: float, corpus: str, seed: int = 0) -> Path:
    """JSONL of `size_mb` MB: a pool of documents drawn at random (seeded) until the size is reached."""
    if corpus == "stories":
        from babyllama.data.stories import generate_stories

        pool = list(generate_stories(20000, seed))
    else:
        text = WIKITEXT.read_text(encoding="utf-8")
        pool = [p.strip() for p in text.split("\n \n") if len(p.strip()) > 200]
    rng = random.Random(seed)
    target = int(size_mb * 1e6)
    with open(path, "w", encoding="utf-8") as f:
        n = 0
        while n < target:
            line = json.dumps({"text": rng.choice(pool)}, ensure_ascii=False) + "\n"
            f.write(line)
            n += len(line.encode("utf-8"))
    return path


def peak_rss() -> dict[str, int]:
    with open("/proc/self/status") as f:
        main = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"main": main, "worker_rss": kids.ru_maxrss * 1024, "cpu_main": me.ru_utime + me.ru_stime,
            "cpu_workers": kids.ru_utime + kids.ru_stime}


def child_ours(src: Path, out: Path, workers: int) -> dict:
    from babyllama.data.prepare import prepare

    m = prepare([str(src)], out, str(TOKENIZER), num_workers=workers, progress=False)
    return {"tokens": sum(s["tokens"] for s in m["splits"].values())}


def child_datasets(src: Path, out: Path, workers: int) -> dict:
    import datasets
    import numpy as np

    from babyllama.tokenizers import Tokenizer

    datasets.disable_progress_bars()
    tok = Tokenizer.load(TOKENIZER)

    def encode(batch):
        return {"ids": tok.encode_batch(batch["text"], bos=True, num_threads=1)}

    ds = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(out / "cache"))
    ds = ds.map(encode, batched=True, batch_size=1000, num_proc=workers if workers > 1 else None,
                remove_columns=["text"])
    ds = ds.map(lambda b: {"n": [len(x) for x in b["ids"]]}, batched=True, num_proc=workers if workers > 1 else None)
    total = int(np.sum(ds["n"], dtype=np.int64))
    arr = np.memmap(out / "train.bin", dtype=np.uint16, mode="w+", shape=(total,))
    at = 0
    for batch in ds.with_format("numpy").iter(batch_size=1000):
        flat = np.concatenate(list(batch["ids"])).astype(np.uint16)
        arr[at:at + len(flat)] = flat
        at += len(flat)
    arr.flush()
    return {"tokens": total}


def run_child(kind: str, src: Path, out: Path, workers: int) -> dict:
    """One measured run in a fresh process."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(out / "cache")}
    t0 = time.time()
    res = subprocess.run([sys.executable, __file__, "--child", kind, str(src), str(out), str(workers)],
                         capture_output=True, text=True, env=env)
    wall = time.time() - t0
    if res.returncode != 0:
        raise SystemExit(f"{kind} with {workers} worker(s) failed:\n{res.stderr[-3000:]}")
    info = json.loads(res.stdout.strip().splitlines()[-1])
    info.update(kind=kind, workers=workers, seconds=wall, mb=src.stat().st_size / 1e6)
    return info


def shards_of(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".bin"}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, src, out, workers = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
        info = (child_ours if kind == "ours" else child_datasets)(src, out, workers)
        print(json.dumps({**info, **peak_rss()}))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=1000, help="corpus size in MB (default 1000)")
    ap.add_argument("--corpus", choices=("stories", "wikitext"), default="stories")
    ap.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS), help="which pipelines to time")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--tmp", default="/tmp/bench_prepare", help="scratch folder (deleted at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args()
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        rows = []
        small = make_corpus(tmp / "small.jsonl", args.size_mb / 8, args.corpus)
        full = make_corpus(tmp / "full.jsonl", args.size_mb, args.corpus)
        print(f"corpus: {args.corpus}, {full.stat().st_size / 1e6:.1f} MB (and {small.stat().st_size / 1e6:.1f} MB), "
              f"tokenizer {TOKENIZER.name} (32000 pieces), {os.cpu_count()} cores", flush=True)
        runs = ([("ours", small, "ours_small", 1)] if "ours" in args.runs else []) + \
            [(kind, full, f"{kind}_{w}", w) for kind in args.runs for w in args.workers]
        for kind, src, name, w in runs:
            r = run_child(kind, src, tmp / name, w)
            rows.append(r)
            print(f"  {kind} x{w}, {r['mb']:.0f} MB: {r['mb'] / r['seconds']:.2f} MB/s, peak RSS main "
                  f"{r['main'] / 2**20:.0f} MiB, worker {r['worker_rss'] / 2**20:.0f} MiB", flush=True)  # kept if cut short
        if "ours" in args.runs and len(args.workers) > 1:
            ws = sorted(args.workers)
            same = shards_of(tmp / f"ours_{ws[0]}") == shards_of(tmp / f"ours_{ws[-1]}")
            print(f"ours: {ws[0]} and {ws[-1]} workers wrote byte-identical shards: {same}")
        print_table(rows)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def print_table(rows: list[dict]) -> None:
    print("\n| pipeline | workers | input MB | seconds | MB/s | M tokens | peak RSS main (MiB) | peak RSS worker (MiB) "
          "| CPU s main + workers | MB per CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        name = "babyllama prepare" if r["kind"] == "ours" else "datasets map"
        print(f"| {name} | {r['workers']} | {r['mb']:.1f} | {r['seconds']:.1f} | {r['mb'] / r['seconds']:.2f} | "
              f"{r['tokens'] / 1e6:.1f} | {r['main'] / 2**20:.0f} | {r['worker_rss'] / 2**20:.0f} | "
              f"{r['cpu_main']:.1f} + {r['cpu_workers']:.1f} | {r['mb'] / (r['cpu_main'] + r['cpu_workers']):.2f} |")
    rate = {(r["kind"], r["workers"]): r["mb"] / r["seconds"] for r in rows if r["mb"] == max(x["mb"] for x in rows)}
    print()
    for kind in RUNS:
        ws = sorted(w for k, w in rate if k == kind)
        if len(ws) > 1:
            print(f"{kind}: {ws[-1]} vs {ws[0]} workers: {rate[(kind, ws[-1])] / rate[(kind, ws[0])]:.2f}x")
    ours1 = sorted((r["mb"], r["main"]) for r in rows if r["kind"] == "ours" and r["workers"] == 1)
    if len(ours1) > 1:
        print(f"ours, 1 worker, peak RSS: {ours1[0][1] / 2**20:.0f} MiB at {ours1[0][0]:.0f} MB, "
              f"{ours1[-1][1] / 2**20:.0f} MiB at {ours1[-1][0]:.0f} MB of input")
    for (k, w), v in sorted(rate.items()):
        if k == "ours" and ("datasets", w) in rate:
            print(f"ours / datasets at {w} worker(s): {v / rate[('datasets', w)]:.2f}x")


if __name__ == "__main__":
    main()
