"""Training throughput: babyllama's training step vs HF transformers' LlamaForCausalLM, same shape, one run.

    python benchmarks/bench_train.py                 # both shapes, CPU, fp32
    python benchmarks/bench_train.py --shapes 260k --steps 10
    python benchmarks/bench_train.py --kinds ours hf ours-bf16   # also our step under bf16 autocast
    python benchmarks/bench_train.py --shapes 15m --kinds ours --steps 1 --profile   # where a step goes

One step = forward, cross-entropy loss, backward, gradient clipping, AdamW update: what the loop does.
The steps alternate (A B A B ...) so drift in machine speed hits all alike; we report the median step
time of each and the ratios to hf (fp32): "ours/hf" is fp32 against fp32, the number to quote; the
bf16 rows are each side under bf16 autocast. Needs the `hf` extra (transformers).
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

from babyllama.model import Llama, LlamaConfig
from babyllama.train.objectives import LanguageModeling
from babyllama.train.optim import build_optimizer
from babyllama.utils.device import cpu_has_bf16

KINDS = ("ours", "hf", "ours-bf16", "hf-bf16")

SHAPES = {
    # name: (model config, batch, seq)
    "15m": (dict(dim=288, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000, max_seq_len=256), 8, 256),
    "260k": (dict(dim=64, n_layers=5, n_heads=8, n_kv_heads=4, vocab_size=512, hidden_dim=172, max_seq_len=512), 32, 512),
    # recipes/tinystories_10min.toml's model (not in the default pair)
    "10min": (dict(dim=128, n_layers=4, n_heads=4, n_kv_heads=4, vocab_size=4096, max_seq_len=256), 32, 256),
}


def hf_model(cfg: LlamaConfig):
    from transformers import LlamaConfig as HFConfig, LlamaForCausalLM

    hf_cfg = HFConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.dim, intermediate_size=cfg.hidden_dim,
                      num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                      num_key_value_heads=cfg.n_kv_heads, max_position_embeddings=cfg.max_seq_len,
                      rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_theta, tie_word_embeddings=cfg.tie_embeddings,
                      attn_implementation="sdpa")
    return LlamaForCausalLM(hf_cfg)


def make_step(model, kind: str):
    """One training step. ours: what the loop runs (LanguageModeling objective: the loss made chunk by
    chunk inside the model; build_optimizer's AdamW), with bf16 autocast for kind 'ours-bf16'. hf: the
    logits, then F.cross_entropy, torch's AdamW. Both clip at 1.0 and use lr 1e-4, weight decay 0.1."""
    if kind.startswith("ours"):
        opt = build_optimizer(model, "adamw", 1e-4, (0.9, 0.95), 1e-8, 0.1, "cpu")
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if kind.endswith("bf16") else contextlib.nullcontext()
    objective = LanguageModeling()

    def step(x, y):
        with amp:
            if kind.startswith("ours"):
                loss, _ = objective.loss(model, (x, y))
            else:
                logits = model(input_ids=x).logits
                loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step


def bench_shape(name: str, steps: int, warmup: int, kinds: list[str], profile: bool = False) -> None:
    kw, batch, seq = SHAPES[name]
    cfg = LlamaConfig(**kw)
    torch.manual_seed(0)
    models = {k: (Llama(cfg) if k.startswith("ours") else hf_model(cfg)).train() for k in kinds}
    steps_fn = {k: make_step(m, k) for k, m in models.items()}
    x = torch.randint(0, cfg.vocab_size, (batch, seq))
    y = torch.randint(0, cfg.vocab_size, (batch, seq))
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(warmup + steps):
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            t0 = time.perf_counter()
            steps_fn[kind](x, y)
            if i >= warmup:
                times[kind].append(time.perf_counter() - t0)
    if profile:
        for kind in kinds:
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                steps_fn[kind](x, y)
            print(f"{name} {kind}: one step, top ops by own CPU time")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=50))
    tok = batch * seq
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"shape {name}: {cfg.num_params() / 1e6:.2f}M params, batch {batch} x seq {seq}, "
          f"{steps} timed steps each after {warmup} warm-up")
    for k in kinds:
        print(f"  {k:9s} {tok / med[k]:10.0f} tokens/s   (median step {med[k] * 1000:.0f} ms, "
              f"min {min(times[k]) * 1000:.0f}, max {max(times[k]) * 1000:.0f})")
    for k in kinds:
        if k != "hf" and "hf" in med:
            print(f"  ratio {k}/hf throughput: {med['hf'] / med[k]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["15m", "260k"], choices=sorted(SHAPES))
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kinds", nargs="+", default=["ours", "hf"], choices=KINDS,
                    help="steps to compare: ours and hf in fp32; ours-bf16 / hf-bf16 under bf16 autocast")
    ap.add_argument("--profile", action="store_true", help="also print a torch.profiler table of one step of each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, CPU; bf16 instructions: {cpu_has_bf16()}")
    for name in args.shapes:
        bench_shape(name, args.steps, args.warmup, args.kinds, args.profile)


if __name__ == "__main__":
    main()
