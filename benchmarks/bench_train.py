"""Training throughput: babyllama's training step vs HF transformers' LlamaForCausalLM, same shape, one run.

    python benchmarks/bench_train.py                 # both shapes, CPU, fp32
    python benchmarks/bench_train.py --shapes 260k --steps 10

One step = forward, cross-entropy loss, backward, gradient clipping, AdamW update: what the loop does.
The two models alternate step by step (A B A B ...) so drift in machine speed hits both alike; we report the
median step time of each and the ratio. Needs the `hf` extra (transformers).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from babyllama.model import Llama, LlamaConfig

SHAPES = {
    # name: (model config, batch, seq)
    "15m": (dict(dim=288, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000, max_seq_len=256), 8, 256),
    "260k": (dict(dim=64, n_layers=5, n_heads=8, n_kv_heads=4, vocab_size=512, hidden_dim=172, max_seq_len=512), 32, 512),
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
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)

    def step(x, y):
        if kind == "ours":
            logits = model(x).logits
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        else:
            logits = model(input_ids=x).logits
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step


def bench_shape(name: str, steps: int, warmup: int) -> None:
    kw, batch, seq = SHAPES[name]
    cfg = LlamaConfig(**kw)
    torch.manual_seed(0)
    ours, hf = Llama(cfg).train(), hf_model(cfg).train()
    steps_fn = {"ours": make_step(ours, "ours"), "hf": make_step(hf, "hf")}
    x = torch.randint(0, cfg.vocab_size, (batch, seq))
    y = torch.randint(0, cfg.vocab_size, (batch, seq))
    times: dict[str, list[float]] = {"ours": [], "hf": []}
    for i in range(warmup + steps):
        for kind in ("ours", "hf") if i % 2 == 0 else ("hf", "ours"):
            t0 = time.perf_counter()
            steps_fn[kind](x, y)
            if i >= warmup:
                times[kind].append(time.perf_counter() - t0)
    tok = batch * seq
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"shape {name}: {cfg.num_params() / 1e6:.2f}M params, batch {batch} x seq {seq}, "
          f"{steps} timed steps each after {warmup} warm-up")
    for k in ("ours", "hf"):
        print(f"  {k:5s} {tok / med[k]:10.0f} tokens/s   (median step {med[k] * 1000:.0f} ms, "
              f"min {min(times[k]) * 1000:.0f}, max {max(times[k]) * 1000:.0f})")
    print(f"  ratio ours/hf throughput: {med['hf'] / med['ours']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["15m", "260k"], choices=sorted(SHAPES))
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, fp32 on CPU")
    for name in args.shapes:
        bench_shape(name, args.steps, args.warmup)


if __name__ == "__main__":
    main()
