"""A small sampler (temperature / top-k with the KV cache) for quick looks at a model.

    babyllama sample runs/quickstart --prompt "Once upon a time" --num-samples 3

MODEL accepts a model folder (config.json + model.safetensors + tokenizer.model), a run folder
(its model/ or, while training, its latest checkpoint) or a checkpoint folder. The full decoding
engine (top-p, beams, stop strings, streaming) is `babyllama generate`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from babyllama.model import KVCache, Llama
from babyllama.utils.io import BabyLlamaError


@torch.no_grad()
def sample_ids(model: Llama, prompt_ids: list[int], max_new_tokens: int, *, temperature: float = 0.8,
               top_k: int = 0, num_samples: int = 1, stop_ids: tuple[int, ...] = (),
               generator: torch.Generator | None = None) -> list[list[int]]:
    """New token ids for num_samples continuations of prompt_ids, each ending before the first of
    stop_ids (not included) or at max_seq_len. temperature 0 = greedy; top_k 0 = the whole vocabulary."""
    if not prompt_ids:
        raise BabyLlamaError("the prompt is empty after tokenization; give some text or a BOS token")
    cfg = model.config
    device = next(model.parameters()).device
    total = min(cfg.max_seq_len, len(prompt_ids) + max_new_tokens)
    if len(prompt_ids) >= cfg.max_seq_len:
        raise BabyLlamaError(f"prompt has {len(prompt_ids)} tokens; the model's max_seq_len is {cfg.max_seq_len}")
    was_training = model.training
    model.eval()
    cache = KVCache(cfg, num_samples, max_len=total, device=device, dtype=next(model.parameters()).dtype)
    x = torch.tensor([prompt_ids] * num_samples, device=device)
    out = [[] for _ in range(num_samples)]
    done = [False] * num_samples
    for _ in range(total - len(prompt_ids)):
        logits = model(x, kv_cache=cache, last_only=True).logits[:, -1].float()
        if temperature <= 0:
            nxt = logits.argmax(-1)
        else:
            logits = logits / temperature
            if 0 < top_k < logits.size(-1):
                kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits, dim=-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(device)
        for i, t in enumerate(nxt.tolist()):
            if not done[i]:
                if t in stop_ids:
                    done[i] = True
                else:
                    out[i].append(t)
        if all(done):
            break
        x = nxt[:, None]
    model.train(was_training)
    return out


def sample_text(model: Llama, tokenizer, prompt: str, max_new_tokens: int = 100, *, temperature: float = 0.8,
                top_k: int = 40, num_samples: int = 1, seed: int | None = None) -> list[str]:
    """Prompt plus continuation, decoded, for each sample. A sample ends at EOS or BOS (prepared data
    starts every document with BOS, so BOS marks the start of the next one)."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    ids = tokenizer.encode(prompt, bos=True)
    new = sample_ids(model, ids, max_new_tokens, temperature=temperature, top_k=top_k, num_samples=num_samples,
                     stop_ids=(tokenizer.eos_id, tokenizer.bos_id), generator=gen)
    return [tokenizer.decode(ids + n) for n in new]


def resolve_model_dir(path: str | Path) -> Path:
    """A model folder from a model, run or checkpoint folder."""
    p = Path(path)
    if (p / "config.json").is_file():
        return p
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if (p / "checkpoints").is_dir():
        from babyllama.checkpoint.run_dir import latest_checkpoint

        ckpt = latest_checkpoint(p)
        if ckpt is not None:
            return ckpt
    raise BabyLlamaError(f"{p}: not a model folder (config.json), a run folder (model/ or checkpoints/) "
                         f"or a checkpoint folder")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model, run or checkpoint folder, or any checkpoint "
                        "`babyllama inspect` reads (HF folder, GGUF, llama2.c .bin/.pt)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer file, e.g. llama2.c's tokenizer.bin "
                        "(default: the one saved with the model)")
    parser.add_argument("--prompt", default="Once upon a time", help="text to continue (default: %(default)r)")
    parser.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate (default 200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    parser.add_argument("--top-k", type=int, default=40, help="sample among the k most likely; 0 = all (default 40)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    parser.add_argument("--num-samples", type=int, default=1, help="how many samples (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps (default cpu)")


def run(args: argparse.Namespace) -> int:
    from babyllama.loading import load

    if args.max_new_tokens < 1 or args.num_samples < 1 or args.temperature < 0 or args.top_k < 0:
        raise BabyLlamaError("--max-new-tokens and --num-samples must be >= 1, --temperature and --top-k >= 0")
    model, tokenizer = load(args.model, args.tokenizer, device=args.device)
    texts = sample_text(model, tokenizer, args.prompt, args.max_new_tokens, temperature=args.temperature,
                        top_k=args.top_k, num_samples=args.num_samples, seed=args.seed)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- sample {i + 1}")
        print(text)
    return 0
