"""Sliding-window perplexity speed and agreement: babyllama vs the Hugging Face recipe, same weights.

    python benchmarks/bench_perplexity.py                    # both shapes, context 256, stride 128
    python benchmarks/bench_perplexity.py --tokens 8192 --shapes 15m

HF side: the "perplexity of fixed-length models" loop from the transformers docs (one window per
forward, labels with -100 before the scored part, loss x scored-token count), with the count taken
after the model's internal label shift so every window is weighted exactly. Ours: windows batched
(--batch-size), only scored positions through the output layer. Both score the same token stream:
TinyStories validation text (from ../shared/data when present; tok512 for the 260K shape, the
Llama-2 tokenizer for the 15M shape) or random ids. For the 260K shape the real llama2.c
stories260K weights are used when present, so its perplexity is meaningful; otherwise weights are
random. Prints scored tokens/s, both perplexities and their relative difference.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import SHAPES, check_same_logits, to_hf  # noqa: E402

from babyllama.eval.perplexity import perplexity_of_tokens  # noqa: E402
from babyllama.model import Llama, LlamaConfig  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_tokens(shape: str, n: int) -> tuple[list[int], str]:
    text_file = SHARED / "tinystories" / "TinyStories-valid-head.paragraphs.txt"
    tok_file = SHARED / ("llama2c/tok512.bin" if shape == "260k" else "llama2c_tokenizer/tokenizer.model")
    if text_file.is_file() and tok_file.is_file():
        from babyllama.tokenizers import Tokenizer

        tok = Tokenizer.load(tok_file)
        ids: list[int] = []
        for para in text_file.read_text(encoding="utf-8").split("\n\n"):
            if para.strip():
                ids += tok.encode(para.strip(), bos=True)
            if len(ids) >= n:
                break
        return ids[:n], f"TinyStories valid, {tok_file.name}"
    g = torch.Generator().manual_seed(0)
    return torch.randint(3, SHAPES[shape]["vocab_size"], (n,), generator=g).tolist(), "random ids"


def load_model(shape: str) -> tuple[Llama, str]:
    path = SHARED / "llama2c" / "stories260K.bin"
    if shape == "260k" and path.is_file():
        try:
            from babyllama.interop.llama2c import read_bin

            model, _ = read_bin(path)
            return model.eval(), "stories260K weights"
        except Exception as e:  # the interop module may be missing or changed; fall back to random weights
            print(f"(could not read {path}: {e}; using random weights)")
    torch.manual_seed(0)
    return Llama(LlamaConfig(**SHAPES[shape])).eval(), "random weights"


@torch.inference_mode()
def hf_recipe(hf, ids: list[int], context: int, stride: int) -> tuple[float, int]:
    """Total NLL and scored tokens, one window per forward (the transformers docs loop)."""
    seq = torch.tensor([ids])
    N = seq.shape[1]
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, N, stride):
        end = min(begin + context, N)
        trg_len = end - prev_end
        input_ids = seq[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        loss = hf(input_ids, labels=target_ids).loss
        scored = int((target_ids[:, 1:] != -100).sum())  # labels are shifted inside the model
        nll_sum += float(loss) * scored
        n_tokens += scored
        prev_end = end
        if end == N:
            break
    return nll_sum, n_tokens


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="260k,15m")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=16384)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads, "
          f"context {args.context}, stride {args.stride}, batch {args.batch_size}")
    rows = []
    for shape in [s.strip().lower() for s in args.shapes.split(",")]:
        model, weights = load_model(shape)
        hf = to_hf(model)
        check_same_logits(model, hf, model.config.vocab_size)
        ids, source = load_tokens(shape, args.tokens)
        best_ours = best_hf = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            ours = perplexity_of_tokens(model, ids, context=args.context, stride=args.stride,
                                        batch_size=args.batch_size)
            best_ours = min(best_ours, time.perf_counter() - t)
            t = time.perf_counter()
            nll, n = hf_recipe(hf, ids, args.context, args.stride)
            best_hf = min(best_hf, time.perf_counter() - t)
        assert n == ours.tokens, (n, ours.tokens)
        hf_ppl = math.exp(nll / n)
        rel = abs(ours.perplexity - hf_ppl) / hf_ppl
        print(f"[{shape}] {weights}, {source}: {n:,} scored tokens")
        rows.append((shape, n / best_ours, n / best_hf, ours.perplexity, hf_ppl, rel))
    print("\n| shape | ours tok/s | HF tok/s | speed-up | ours ppl | HF ppl | rel. diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for shape, a, b, pa, pb, rel in rows:
        print(f"| {shape} | {a:,.0f} | {b:,.0f} | {a / b:.2f}x | {pa:.6f} | {pb:.6f} | {rel:.1e} |")


if __name__ == "__main__":
    main()
