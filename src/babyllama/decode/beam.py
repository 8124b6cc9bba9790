"""Beam search for one prompt, with a length penalty and early stopping; the KV cache follows the
surviving beams through `KVCache.reorder`."""
from __future__ import annotations

import math

import torch

from babyllama.decode.processors import LogitsProcessor
from babyllama.decode.settings import GenerationConfig
from babyllama.decode.steps import Row, prefill, step_function
from babyllama.decode.text import RowText
from babyllama.model import Llama


@torch.inference_mode()
def beam_search(model: Llama, row: Row, cfg: GenerationConfig, stop_ids: set[int], text: RowText | None,
                pad_id: int, fast: bool) -> list[Row]:
    """Beam search for one prompt; returns up to num_beams finished hypotheses, best first."""
    k = cfg.num_beams
    logits, cache, _, positions = prefill(model, [row], row.limit, pad_id)
    first = torch.zeros(k, dtype=torch.long, device=logits.device)
    cache.reorder(first)  # k copies of the prompt's keys/values
    positions, logits = positions[first], logits[first]
    step = step_function(model, fast)
    V = logits.shape[-1]
    proc = LogitsProcessor(cfg, [row.prompt_ids] * k, V, logits.device, None)
    scores = torch.full((k,), float("-inf"), dtype=torch.float64, device=logits.device)
    scores[0] = 0.0
    beams: list[Row] = [Row(row.prompt_ids, row.limit, row.limit_reason) for _ in range(k)]
    done: list[Row] = []
    lp = cfg.length_penalty

    def add(hyp: Row, total: float) -> None:
        hyp.score = total / (max(len(hyp.logprobs), 1) ** lp)
        done.append(hyp)
        done.sort(key=lambda h: h.score, reverse=True)
        del done[k:]

    for n in range(row.limit):
        logp = proc.penalise(logits).log_softmax(-1)
        raw = logits.log_softmax(-1)
        cand = (scores[:, None] + logp.double()).view(-1)
        top_scores, top_idx = torch.topk(cand, 2 * k)
        ent = (-(raw.exp() * raw).nan_to_num(0.0).sum(-1)).tolist()
        nxt: list[tuple[int, int, float]] = []
        for rank, (s, j) in enumerate(zip(top_scores.tolist(), top_idx.tolist())):
            if s == float("-inf"):
                break
            b, t = divmod(j, V)
            src = beams[b]
            if t in stop_ids:
                if rank < k:
                    hyp = Row(row.prompt_ids, row.limit, row.limit_reason, list(src.tokens),
                              src.logprobs + [raw[b, t].item()], src.entropies + [ent[b]], "stop")
                    add(hyp, s)
                continue
            nxt.append((b, t, s))
            if len(nxt) == k:
                break
        if not nxt:
            break
        new_beams, new_scores = [], []
        for b, t, s in nxt:
            src = beams[b]
            nb = Row(row.prompt_ids, row.limit, row.limit_reason, src.tokens + [t],
                     src.logprobs + [raw[b, t].item()], src.entropies + [ent[b]])
            if text is not None and text.stops:
                full = text.text(nb.tokens)
                text.checked = 0
                cut = text.find_stop(full)
                if cut >= 0:
                    nb.finish, nb.text = "stop", full[:cut]
                    add(nb, s)
                    s = float("-inf")
            new_beams.append(nb)
            new_scores.append(s)
        while len(new_beams) < k:  # fewer live candidates than beams: pad with dead copies
            new_beams.append(new_beams[0])
            new_scores.append(float("-inf"))
            nxt.append(nxt[0])
        index_list = [b for b, _, _ in nxt]
        index = torch.tensor(index_list, device=logits.device)
        beams = new_beams
        scores = torch.tensor(new_scores, dtype=torch.float64, device=logits.device)
        if n + 1 >= row.limit or not math.isfinite(max(new_scores)):
            break
        if len(done) >= k:
            if cfg.early_stopping:
                break
            best_possible = max(new_scores) / ((n + 1) ** lp)
            if done[-1].score >= best_possible:
                break
        cache.reorder(index)
        proc.reorder(index, index_list)
        tokens = torch.tensor([t for _, t, _ in nxt], device=logits.device)
        proc.push(tokens, tokens.tolist())
        logits = step(tokens, positions, cache, None)
        positions += 1
    for b, s in zip(beams, scores.tolist()):
        if math.isfinite(s) and b.finish is None:
            b.finish = b.limit_reason if len(b.tokens) >= b.limit else "length"
            add(b, s)
    return done
