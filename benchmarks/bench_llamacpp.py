"""Batch-1 greedy decoding: babyllama (fp32, bf16, int8 weights) vs llama.cpp (f32, q8_0 GGUF) on the same weights.

    pip install -e ".[bench]"       # llama-cpp-python (builds llama.cpp from source: slow)
    python benchmarks/bench_llamacpp.py --threads 1
    python benchmarks/bench_llamacpp.py --threads 2 --new-tokens 256 --repeats 5

One model at the stories15M shape (dim 288, 6 layers, 6 heads, vocab 32000, hidden 768, context 512)
with random weights (seed 0, N(0, 0.02) as initialised, or --weights a babyllama model folder) and the
Llama-2 tokenizer (../shared/data/llama2c_tokenizer/tokenizer.model, or --tokenizer) is exported with
`babyllama convert`'s GGUF writer as F32 and as Q8_0. Both libraries get the same prompt token ids,
generate the same number of tokens greedily (argmax of the logits, no sampler objects on either side),
prompt pass included, with the same number of threads, runs alternating, best of --repeats kept. Also
prints how many of the first greedy tokens agree with babyllama fp32 (random weights give nearly flat
logits, so rounding differences flip ties sooner than a trained model's would).
"""
from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import torch
from bench_generate import SHAPES, bandwidth, best_of, weight_read_bound  # benchmarks/ is on sys.path as a script

from babyllama.decode import GenerationConfig, generate
from babyllama.decode.precision import to_precision
from babyllama.interop.gguf import export_gguf
from babyllama.model import Llama, LlamaConfig
from babyllama.tokenizers import load_tokenizer

SHAPE = SHAPES["15m"]
DEFAULT_TOKENIZER = Path(__file__).resolve().parents[2] / "shared/data/llama2c_tokenizer/tokenizer.model"


def llamacpp_greedy(llm, prompt: list[int], n: int) -> list[int]:
    """n greedy tokens after `prompt` through llama.cpp's eval (logits of the last position only, read
    in place from llama.cpp's buffer)."""
    import llama_cpp

    vocab = llm.n_vocab()
    llm.reset()
    llm.eval(prompt)
    out = []
    for _ in range(n):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocab,))
        t = int(np.argmax(logits))
        out.append(t)
        llm.eval([t])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tokenizer", default=str(DEFAULT_TOKENIZER), help="a 32000-piece SentencePiece model")
    p.add_argument("--weights", help="a babyllama model folder to use instead of random weights")
    args = p.parse_args()
    try:
        import llama_cpp
    except ImportError:
        raise SystemExit("llama-cpp-python is not installed: pip install -e '.[bench]' (it compiles llama.cpp)")
    torch.set_num_threads(args.threads)
    if args.weights:
        from babyllama.loading import load

        model, tok = load(args.weights)
    else:
        torch.manual_seed(0)
        model = Llama(LlamaConfig(**SHAPE)).eval()
        tok = load_tokenizer(args.tokenizer)
    n = args.new_tokens
    prompt = [1] + torch.randint(3, model.config.vocab_size, (7,), generator=torch.Generator().manual_seed(1)).tolist()
    print(f"torch {torch.__version__}, llama-cpp-python {llama_cpp.__version__}, {args.threads} threads, "
          f"{model.config.num_params() / 1e6:.1f}M parameters, prompt {len(prompt)} tokens, {n} new tokens")

    fns, sizes, models = {}, {}, {}
    cfg = GenerationConfig(max_new_tokens=n, ignore_eos=True)
    for kind in ("fp32", "bf16", "int8"):
        m = models[kind] = model if kind == "fp32" else to_precision(copy.deepcopy(model), kind)
        fns[f"babyllama {kind}"] = lambda m=m: generate(m, None, [prompt], cfg)[0].tokens
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("f32", "q8_0"):
            path = Path(tmp) / f"m-{kind}.gguf"
            export_gguf(model, path, tok, kind=kind)
            sizes[f"llama.cpp {kind}"] = path.stat().st_size
            llm = llama_cpp.Llama(model_path=str(path), n_ctx=model.config.max_seq_len, n_batch=64,
                                  n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
            fns[f"llama.cpp {kind}"] = lambda llm=llm: llamacpp_greedy(llm, prompt, n)
        with torch.inference_mode():
            res = best_of(fns, args.repeats)
    bw = bandwidth(model)
    print(f"weight-read bound at the measured {bw / 1e9:.1f} GB/s (bench_generate.py's): "
          + ", ".join(f"{k} {weight_read_bound(m, bw):,.0f} tok/s" for k, m in models.items())
          + "; GGUF files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))
    ref = res["babyllama fp32"][1]
    base = n / res["llama.cpp f32"][0]
    print("\n| engine | weights | tok/s | vs llama.cpp f32 | same first tokens as babyllama fp32 |")
    print("|---|---|---:|---:|---:|")
    for name, (secs, toks) in res.items():
        same = next((i for i, (a, b) in enumerate(zip(toks, ref)) if a != b), n)
        engine, kind = name.split(" ")
        print(f"| {engine} | {kind} | {n / secs:,.0f} | {n / secs / base:.2f}x | {same}/{n} |")


if __name__ == "__main__":
    main()
