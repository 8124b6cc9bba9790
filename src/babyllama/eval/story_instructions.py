"""Score a model on verifiable story instructions: does its story use the required words, name the
character and the place, and end happily, as asked?

    report = evaluate_story_instructions(model, tok, n=200)
    report["metrics"]["all"]    # {"mean": 0.41, "ci95_low": 0.34, "ci95_high": 0.48, "n": 200}

The instructions are the held-out ones of `data.stories.instructions` (or a file written by
`babyllama stories --instructions`). A model with the chat tokens is prompted through the chat
template (`decode.chat.reply`); a base model without them gets the instruction as plain text
followed by a newline, so base, SFT and DPO models are scored on the same prompts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from babyllama.data.chat import has_chat_tokens
from babyllama.data.sources import iter_jsonl
from babyllama.data.stories.instructions import EVAL_START, Constraints, check_story, make_instructions
from babyllama.decode import GenerationConfig, generate
from babyllama.decode.chat import reply
from babyllama.utils.stats import bootstrap_ci
from babyllama.utils.io import BabyLlamaError

METRICS = ("words", "character", "place", "happy", "all")


def read_instruction_file(path: str | Path) -> list[tuple[str, Constraints]]:
    """(prompt, constraints) of each line of an eval.jsonl."""
    out = []
    for n, obj in iter_jsonl(path):
        if not isinstance(obj.get("prompt"), str) or not isinstance(obj.get("constraints"), dict):
            raise BabyLlamaError(f"{path}:{n}: needs a string 'prompt' and a 'constraints' object")
        try:
            out.append((obj["prompt"], Constraints.from_dict(obj["constraints"])))
        except (KeyError, TypeError) as e:
            raise BabyLlamaError(f"{path}:{n}: constraints lack field {e}") from None
    if not out:
        raise BabyLlamaError(f"{path}: no instructions in the file")
    return out


def score_answers(answers: list[str], constraints: list[Constraints], n_boot: int = 2000) -> dict[str, Any]:
    """Each metric's mean over the prompts that ask for it, with its bootstrap 95% CI."""
    checks = [check_story(a, c) for a, c in zip(answers, constraints)]
    out: dict[str, Any] = {}
    for m in METRICS:
        values = [float(c[m]) for c in checks if c[m] is not None]
        if values:
            lo, hi = bootstrap_ci(values, n_boot=n_boot)
            out[m] = {"mean": sum(values) / len(values), "ci95_low": lo, "ci95_high": hi, "n": len(values)}
    return {"metrics": out, "checks": checks}


def evaluate_story_instructions(model: Any, tokenizer: Any, *, path: str | Path | None = None, n: int = 200,
                                seed: int = 0, config: GenerationConfig | None = None,
                                batch_size: int = 32) -> dict[str, Any]:
    """Generate an answer to each held-out instruction and score it; returns {"metrics", "rows", "mode"}."""
    if path is not None:
        items = read_instruction_file(path)[:n]
    else:
        items = [(it.prompt, it.constraints) for it in make_instructions(n, seed, start=EVAL_START)]
    cfg = config or GenerationConfig(max_new_tokens=200)
    prompts = [p for p, _ in items]
    if has_chat_tokens(tokenizer):
        mode = "chat"
        results = reply(model, tokenizer, [[{"role": "user", "content": p}] for p in prompts], cfg,
                        batch_size=batch_size)
    else:
        mode = "plain"
        stop_ids = tuple(t for t in (tokenizer.bos_id,) if t is not None and t >= 0)
        texts = [p + "\n" for p in prompts]
        results = generate(model, tokenizer, texts, cfg.replace(
            stop_token_ids=tuple(set(cfg.stop_token_ids) | set(stop_ids))), batch_size=batch_size)
    answers = [r.text.strip() for r in results]
    scored = score_answers(answers, [c for _, c in items])
    rows = [{"prompt": p, "answer": a, "constraints": c.to_dict(), "check": k}
            for (p, c), a, k in zip(items, answers, scored["checks"])]
    return {"task": "story-instructions", "mode": mode, "n": len(items), "metrics": scored["metrics"], "rows": rows}
