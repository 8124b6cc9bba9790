"""Load test of `babyllama serve` on loopback: throughput and latency with N concurrent clients against
one at a time, with batching on and off, and what the server does at overload.

    python benchmarks/bench_serve.py                                  # stories260K from ../shared/data
    python benchmarks/bench_serve.py --model runs/quickstart/model --clients 8 --requests 32

Each server is its own process (`babyllama serve ... --threads 1`) on 127.0.0.1 and an ephemeral port;
the clients are asyncio + httpx in this process. Every request asks for exactly --max-tokens tokens
(ignore_eos) with sampling at temperature 0.8 and no seed, so requests may share a batch. Bounded: a
fixed number of requests, a 120 s timeout per request, and the servers are stopped at the end.
Overload: a burst of streaming and plain requests, some of which hang up after the first event,
against a server with a small queue; we count the answers and compare the server's threads and
memory before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "llama2c"
PROMPTS = ["Once upon a time", "Lily and Tom went to the park", "The little dog", "One day, a bird",
           "Sam had a red ball", "There was a big tree", "Mom said", "The sun was hot"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "babyllama", "serve", args.model, "--port", str(port), "--threads", "1",
           "--max-tokens", str(args.max_tokens), *extra]
    if args.tokenizer:
        cmd += ["--tokenizer", args.tokenizer]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
    proc.kill()
    raise SystemExit("server did not start in 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


async def one(client: httpx.AsyncClient, base: str, k: int, max_tokens: int) -> tuple[float, int, int]:
    body = {"prompt": PROMPTS[k % len(PROMPTS)], "max_tokens": max_tokens, "temperature": 0.8, "ignore_eos": True}
    t0 = time.perf_counter()
    r = await client.post(base + "/v1/completions", json=body)
    dt = time.perf_counter() - t0
    tokens = r.json()["usage"]["completion_tokens"] if r.status_code == 200 else 0
    return dt, r.status_code, tokens


async def load(base: str, clients: int, requests: int, max_tokens: int) -> dict[str, float]:
    """`clients` workers share `requests` requests; each worker sends its next one when the last returns."""
    todo = list(range(requests))
    out: list[tuple[float, int, int]] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while todo:
            out.append(await one(client, base, todo.pop(), max_tokens))

    async with httpx.AsyncClient(timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = sorted(dt for dt, status, _ in out if status == 200)
    tokens = sum(t for _, _, t in out)
    return {"clients": clients, "requests": requests, "ok": len(lat), "wall_s": wall, "tokens_per_s": tokens / wall,
            "p50_s": statistics.median(lat), "p95_s": lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]}


async def overload(base: str, burst: int, max_tokens: int) -> dict[str, object]:
    """`burst` requests at once: a third stream and hang up after the first event, the rest wait."""
    async def plain(client: httpx.AsyncClient, k: int) -> str:
        body = {"prompt": PROMPTS[k % len(PROMPTS)], "max_tokens": max_tokens, "temperature": 0.8}
        return str((await client.post(base + "/v1/completions", json=body)).status_code)

    async def hang_up(client: httpx.AsyncClient, k: int) -> str:
        body = {"prompt": PROMPTS[k % len(PROMPTS)], "max_tokens": max_tokens, "temperature": 0.8, "stream": True}
        async with client.stream("POST", base + "/v1/completions", json=body) as r:
            if r.status_code != 200:
                return str(r.status_code)
            async for _ in r.aiter_lines():
                break
        return "hung up"

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=burst)) as client:
        answers = await asyncio.gather(*((hang_up if k % 3 == 0 else plain)(client, k) for k in range(burst)),
                                       return_exceptions=True)
    counts: dict[str, int] = {}
    for a in answers:
        key = a if isinstance(a, str) else type(a).__name__
        counts[key] = counts.get(key, 0) + 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(SHARED / "stories260K.bin"))
    ap.add_argument("--tokenizer", default=None, help="default: tok512.bin beside a llama2.c .bin model")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--burst", type=int, default=48)
    ap.add_argument("--out", help="also write the numbers as JSON here")
    args = ap.parse_args()
    if args.tokenizer is None and args.model.endswith(".bin"):
        args.tokenizer = str(Path(args.model).with_name("tok512.bin"))
    if not Path(args.model).exists():
        raise SystemExit(f"{args.model}: not found (pass --model)")

    rows, report = [], {}
    for mode, extra in (("batching", ("--max-batch", str(args.clients))), ("one at a time", ("--no-batching",))):
        proc, base = start_server(args, *extra, "--max-queue", str(4 * args.clients))
        try:
            asyncio.run(load(base, 1, 2, args.max_tokens))  # warm up
            for clients in (1, args.clients):
                r = asyncio.run(load(base, clients, args.requests if clients > 1 else args.requests // 4,
                                     args.max_tokens))
                r["mode"] = mode
                rows.append(r)
        finally:
            stop_server(proc)
    proc, base = start_server(args, "--max-batch", "4", "--max-queue", "4")
    try:
        before = proc_status(proc.pid)
        counts = asyncio.run(overload(base, args.burst, args.max_tokens))
        time.sleep(1.0)
        first = proc_status(proc.pid)  # threads and memory after one burst, then after a second one:
        asyncio.run(overload(base, args.burst, args.max_tokens))  # a leak would keep growing
        time.sleep(1.0)
        health = httpx.get(base + "/health", timeout=10).json()
        after = proc_status(proc.pid)
        still = asyncio.run(load(base, 1, 2, 8))["ok"]
        report["overload"] = {"burst": args.burst, "answers": counts, "health": health, "before": before,
                              "first": first, "after": after, "serves_after": still}
    finally:
        stop_server(proc)
    report["runs"] = rows

    print(f"model {args.model}, {args.max_tokens} tokens per request, sampling, server on 1 thread\n")
    print("| server | clients | requests | tokens/s | p50 latency (s) | p95 latency (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['mode']} | {r['clients']} | {r['requests']} | {r['tokens_per_s']:.0f} | {r['p50_s']:.2f} | "
              f"{r['p95_s']:.2f} |")
    solo = next(r for r in rows if r["mode"] == "batching" and r["clients"] == 1)
    many = next(r for r in rows if r["mode"] == "batching" and r["clients"] > 1)
    plain = next(r for r in rows if r["mode"] == "one at a time" and r["clients"] > 1)
    print(f"\n{args.clients} clients, batching vs one at a time: {many['tokens_per_s'] / plain['tokens_per_s']:.2f}x "
          f"the tokens/s; vs a single client: {many['tokens_per_s'] / solo['tokens_per_s']:.2f}x")
    o = report["overload"]
    print(f"overload ({o['burst']} at once, queue 4, batch 4): {o['answers']}; after: health {o['health']['status']}, "
          f"threads {o['before']['Threads']} -> {o['first']['Threads']} -> {o['after']['Threads']}, RSS "
          f"{o['before']['VmRSS'] // 1024} -> {o['first']['VmRSS'] // 1024} -> {o['after']['VmRSS'] // 1024} MiB "
          f"(start, one burst, two bursts), next requests ok: {o['serves_after']}/2")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
