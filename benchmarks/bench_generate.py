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
weight once per token, so it also prints that bound: the tokens/s of merely summing all the weights
the decoding step reads (its fused copy), which no fp32 implementation on this machine can beat.
"""
from __future__ import annotations

import argparse
import time
import warnings

import torch

from babyllama.decode import GenerationConfig, generate
from babyllama.model import Llama, LlamaConfig

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


def weight_read_bound(model: Llama, repeats: int = 20) -> float:
    """Tokens/s if a decoding step cost nothing but reading its weights: best time to sum them all."""
    step = model.decoder()
    weights = [w for layer in step.layers for w in layer] + [step.out_t]
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t = time.perf_counter()
            for w in weights:
                w.sum()
            best = min(best, time.perf_counter() - t)
    return 1.0 / best


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
    bound = weight_read_bound(model)
    print(f"[{name}] reading every weight once per token allows at most {bound:,.0f} tok/s at batch 1 "
          f"({bound / (n / res['hf'][0]):.2f}x HF); ours reaches {n / res['ours'][0] / bound:.0%} of that")
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="260k,15m")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batch-new-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
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
