"""Generation speed: babyllama's KV-cache engine vs Hugging Face transformers' generate, same weights.

    python benchmarks/bench_generate.py                  # both shapes, 2 threads
    python benchmarks/bench_generate.py --shapes 260k --repeats 5

Shapes: stories260K (dim 64, 5 layers, 8 heads, 4 kv heads, vocab 512, hidden 172) and stories15M
(dim 288, 6 layers, 6 heads, vocab 32000), random weights, max_seq_len 512. Our weights are copied
into a transformers LlamaForCausalLM (wq/wk rows permuted per head from adjacent-pair to rotate-half
rotary layout) and the logits are checked to agree before any timing. Runs alternate between the
two libraries and the best of --repeats is kept, so a busy machine hurts both alike.
Prints tokens/s for batch-1 greedy (--new-tokens, default 256), the same with every decode step
through `Llama.forward` instead of `Llama.decode_step` (generate(..., fast=False)), and a batch of 32 prompts
of different lengths (left padded, --batch-new-tokens, default 128). Batch-1 decoding must read every
weight once per token, so it also prints that bound: the bytes the decoding step reads per token (its
fused matrices) over the memory bandwidth measured by summing those same fp32 matrices, in this process
with the same threads (sum is the fastest full read torch has here: as fast as a 256 MB buffer's).
--dtypes adds batch-1 greedy rows for the weight-only bf16 / int8 paths (babyllama.decode.precision),
each against its own bound (fewer bytes per token, same bandwidth), with its speed-up over fp32 and
how many of its first greedy tokens equal fp32's.
"""
from __future__ import annotations

import argparse
import time
import warnings

import torch

from babyllama.decode import GenerationConfig, generate
from babyllama.decode.precision import precision_step, to_precision
from babyllama.model import KVCache, Llama, LlamaConfig

SHAPES = {
    "260k": dict(dim=64, n_layers=5, n_heads=8, n_kv_heads=4, vocab_size=512, hidden_dim=172, max_seq_len=512),
    "15m": dict(dim=288, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000, hidden_dim=768, max_seq_len=512),
}


def to_hf(model: Llama):
    """A transformers LlamaForCausalLM holding `model`'s weights."""
    from transformers import LlamaConfig as HFConfig, LlamaForCausalLM

    c = model.config
    hc = HFConfig(vocab_size=c.vocab_size, hidden_size=c.dim, intermediate_size=c.hidden_dim,
                  num_hidden_layers=c.n_layers, num_attention_heads=c.n_heads, num_key_value_heads=c.n_kv_heads,
                  max_position_embeddings=c.max_seq_len, rms_norm_eps=c.norm_eps, rope_theta=c.rope_theta,
                  tie_word_embeddings=c.tie_embeddings, bos_token_id=1, eos_token_id=None, pad_token_id=0,
                  attention_bias=False, mlp_bias=False)
    hf = LlamaForCausalLM(hc).eval()
    D = c.head_dim

    def rotate_half_rows(w: torch.Tensor, heads: int) -> torch.Tensor:
        # per head, rows (0,1,2,3,...) -> (0,2,4,...,1,3,5,...): adjacent pairs become halves
        return w.view(heads, D // 2, 2, -1).transpose(1, 2).reshape(heads * D, -1)

    names = {"attention.wq": "self_attn.q_proj", "attention.wk": "self_attn.k_proj", "attention.wv": "self_attn.v_proj",
             "attention.wo": "self_attn.o_proj", "feed_forward.w1": "mlp.gate_proj", "feed_forward.w2": "mlp.down_proj",
             "feed_forward.w3": "mlp.up_proj", "attention_norm": "input_layernorm",
             "ffn_norm": "post_attention_layernorm"}
    state = {}
    for k, v in model.state_dict().items():
        if k.startswith("layers."):
            _, i, rest = k.split(".", 2)
            part, leaf = rest.rsplit(".", 1)
            if part == "attention.wq":
                v = rotate_half_rows(v, c.n_heads)
            elif part == "attention.wk":
                v = rotate_half_rows(v, c.n_kv_heads)
            state[f"model.layers.{i}.{names[part]}.{leaf}"] = v
        elif k == "tok_embeddings.weight":
            state["model.embed_tokens.weight"] = v
        elif k == "norm.weight":
            state["model.norm.weight"] = v
        elif k == "output.weight":
            state["lm_head.weight"] = v
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (c.tie_embeddings and m == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"weight copy failed: missing {missing}, unexpected {unexpected}")
    if c.tie_embeddings:
        hf.tie_weights()
    return hf


def check_same_logits(model: Llama, hf, vocab: int) -> float:
    x = torch.randint(3, vocab, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        diff = (model(x).logits - hf(x).logits.float()).abs().max().item()
    if diff > 1e-3:
        raise SystemExit(f"logits differ by {diff:.2e}: the weight copy is wrong")
    return diff


def best_of(fns: dict, repeats: int) -> dict:
    """Run each function `repeats` times, alternating, and keep the best time."""
    best = {k: float("inf") for k in fns}
    out = {}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            out[k] = f()
            best[k] = min(best[k], time.perf_counter() - t)
    return {k: (best[k], out[k]) for k in fns}


def step_bytes(model: Llama) -> int:
    """Bytes of weights one batch-1 decoding step reads (its fused matrices and scales)."""
    return sum(w.numel() * w.element_size() for w in precision_step(model).weights())


def bandwidth(model: Llama, repeats: int = 20) -> float:
    """Bytes/s of reading the fp32 model's decoding weights: best time to sum them all."""
    weights = model.decoder().weights()
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t = time.perf_counter()
            for w in weights:
                w.sum()
            best = min(best, time.perf_counter() - t)
    return step_bytes(model) / best


def weight_read_bound(model: Llama, bytes_per_second: float) -> float:
    """Tokens/s if a decoding step cost nothing but reading its weights once."""
    return bytes_per_second / step_bytes(model)


def bench_shape(name: str, args: argparse.Namespace) -> list[tuple]:
    torch.manual_seed(0)
    model = Llama(LlamaConfig(**SHAPES[name])).eval()
    hf = to_hf(model)
    diff = check_same_logits(model, hf, model.config.vocab_size)
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(1)
    rows = []

    # batch 1, greedy
    prompt = torch.randint(3, V, (1, 8), generator=g)
    n = args.new_tokens
    cfg = GenerationConfig(max_new_tokens=n, ignore_eos=True)
    with torch.inference_mode():
        res = best_of({
            "ours": lambda: generate(model, None, [prompt[0].tolist()], cfg)[0].tokens,
            "hf": lambda: hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n,
                                      do_sample=False)[0, 8:].tolist(),
            "forward": lambda: generate(model, None, [prompt[0].tolist()], cfg, fast=False)[0].tokens,
        }, args.repeats)
    same = res["ours"][1] == res["hf"][1] == res["forward"][1]
    rows.append((name, f"greedy batch 1, {n} new", n / res["ours"][0], n / res["hf"][0], same))
    bw = bandwidth(model)
    bound = weight_read_bound(model, bw)
    print(f"[{name}] reading every weight once per token ({step_bytes(model) / 1e6:.1f} MB at a measured "
          f"{bw / 1e9:.1f} GB/s) allows at most {bound:,.0f} tok/s at batch 1 "
          f"({bound / (n / res['hf'][0]):.2f}x HF); ours reaches {n / res['ours'][0] / bound:.0%} of that")
    if args.dtypes:
        dtype_rows(name, model, prompt, n, bw, args)
    rows.append((name, "same, steps via Llama.forward", n / res["forward"][0], n / res["hf"][0], same))

    # batch of prompts with different lengths, greedy, left padded
    B, n = args.batch, args.batch_new_tokens
    lens = [4 + (i * 7) % 32 for i in range(B)]
    prompts = [torch.randint(3, V, (L,), generator=g).tolist() for L in lens]
    P = max(lens)
    ids = torch.zeros(B, P, dtype=torch.long)
    mask = torch.zeros(B, P, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, P - len(p):] = torch.tensor(p)
        mask[i, P - len(p):] = 1
    cfg = GenerationConfig(max_new_tokens=n, ignore_eos=True)
    with torch.inference_mode():
        res = best_of({
            "ours": lambda: [r.tokens for r in generate(model, None, prompts, cfg, batch_size=B)],
            "hf": lambda: hf.generate(ids, attention_mask=mask, max_new_tokens=n, do_sample=False)[:, P:].tolist(),
        }, max(1, args.repeats - 1))
    agree = sum(a == b for a, b in zip(res["ours"][1], res["hf"][1]))
    rows.append((name, f"greedy batch {B}, {n} new", B * n / res["ours"][0], B * n / res["hf"][0],
                 f"{agree}/{B}"))
    print(f"[{name}] max |logit difference| ours vs HF: {diff:.1e}")
    return rows


def dtype_rows(name: str, model: Llama, prompt: torch.Tensor, n: int, bw: float, args) -> None:
    """Batch-1 greedy with weight-only bf16 / int8 weights, each against its own weight-read bound."""
    import copy

    cfg = GenerationConfig(max_new_tokens=n, ignore_eos=True)
    models = {"fp32": model}
    models.update({d: to_precision(copy.deepcopy(model), d) for d in args.dtypes.split(",") if d != "fp32"})
    with torch.inference_mode():
        res = best_of({d: (lambda m=m: generate(m, None, [prompt[0].tolist()], cfg)[0].tokens)
                       for d, m in models.items()}, args.repeats)
    steps = {d: best_step(m) for d, m in models.items()}
    products = {d: best_products(m) for d, m in models.items()}
    print(f"\n[{name}] batch-1 greedy, {n} new tokens, by weight precision (same bandwidth {bw / 1e9:.1f} GB/s); "
          f"'one step': the best of 50 single decoding steps at 128 cached positions, timed like the bound; "
          f"'products': the step's matrix products alone, the most a step on these kernels could reach")
    print("| weights | MB read/token | tok/s | bound tok/s | % of bound | one step tok/s | % of bound "
          "| products % of bound | speed-up vs fp32 | same first tokens as fp32 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = n / res["fp32"][0]
    for d, m in models.items():
        tps, bound = n / res[d][0], weight_read_bound(m, bw)
        same = next((i for i, (a, b) in enumerate(zip(res[d][1], res["fp32"][1])) if a != b), n)
        print(f"| {d} | {step_bytes(m) / 1e6:.1f} | {tps:,.0f} | {bound:,.0f} | {tps / bound:.0%} | "
              f"{1 / steps[d]:,.0f} | {1 / steps[d] / bound:.0%} | {1 / products[d] / bound:.0%} | "
              f"{tps / base:.2f}x | {same}/{n} |")


def best_products(model: Llama, repeats: int = 50) -> float:
    """Seconds of the best run of only the matrix products of one batch-1 decoding step."""
    step = precision_step(model)
    mats = [m for layer in step.layers for m in layer] + [step.out_t]
    ins = [torch.randn(1, m.shape[0] if isinstance(m, torch.Tensor) else m.weight.shape[1]) for m in mats]
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t = time.perf_counter()
            for x, m in zip(ins, mats):
                step._mm(x, m)
            best = min(best, time.perf_counter() - t)
    return best


def best_step(model: Llama, cached: int = 128, repeats: int = 50) -> float:
    """Seconds of the best single batch-1 decoding step with `cached` positions in the KV cache."""
    step = precision_step(model)
    cache = KVCache(model.config, 1)
    token, pos = torch.tensor([5]), torch.tensor([cached])
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            cache.length = cached
            t = time.perf_counter()
            step(token, pos, cache)
            best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="260k,15m")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batch-new-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtypes", default="fp32,bf16,int8",
                   help="weight precisions for the extra batch-1 rows ('' = none)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads")
    rows = []
    for name in args.shapes.split(","):
        rows += bench_shape(name.strip().lower(), args)
    print("\n| shape | run | ours tok/s | HF tok/s | speed-up | same tokens |")
    print("|---|---|---:|---:|---:|---|")
    for shape, what, ours, theirs, same in rows:
        print(f"| {shape} | {what} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x | {same} |")


if __name__ == "__main__":
    main()
