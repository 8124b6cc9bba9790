"""MMLU (Hendrycks et al.): 57 subjects of four-choice questions, zero- or five-shot, scored by
log-probability.

    report = evaluate_mmlu(model, tok, path="../shared/data/mmlu", n=10, shots=5)
    report["metrics"]["accuracy"]      # {"mean": 26.1, "ci95_low": ..., "ci95_high": ..., "n": 570}
    report["subjects"]["anatomy"]      # {"mean": ..., "ci95_low": ..., "ci95_high": ..., "n": 10}

The folder holds `dev/SUBJECT_dev.csv` (5 questions each, the few-shot examples) and
`test/SUBJECT_test.csv`. Rows are `question, choice0..choice3, answer` with the answer an index
0-3 (a header row is skipped; the original A-D letters are read too). The prompt is the paper's:

    The following are multiple choice questions (with answers) about anatomy.

    <dev question>
    A. ...
    ...
    Answer: C

    <test question>
    A. ...
    Answer:

`score="letter"` picks the letter (" A" .. " D") with the highest log-probability after "Answer:"
(one forward pass per question); `score="text"` also scores each choice's full text as the
continuation, summed over its tokens (`accuracy_text`) and per UTF-8 byte (`accuracy_text_norm`),
through the perplexity module's scorer. When a prompt is longer than the model's context, shots are
dropped from the front, then the prompt is cut from the left; the report counts both. Baselines:
chance (25%) and always answering the dev set's most common letter.
"""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from babyllama.data.tasks import shared_data
from babyllama.eval.metrics import mean_ci, sample_subset
from babyllama.eval.perplexity import Window, score_batch
from babyllama.utils.io import BabyLlamaError

LETTERS = "ABCD"
HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]


@dataclass(frozen=True)
class Question:
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: int  # 0-3
    source: str  # "file:line"


def read_questions(path: str | Path, subject: str) -> list[Question]:
    """The questions of one MMLU CSV file; a bad row is an error naming the file and line."""
    path = Path(path)
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as e:
        raise BabyLlamaError(f"{path}: cannot read ({e.strerror})") from None
    out = []
    with f:
        reader = csv.reader(f)
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if line == 1 and [c.strip().lower() for c in row] == HEADER:
                continue
            if not any(c.strip() for c in row):
                continue
            if len(row) != 6:
                raise BabyLlamaError(f"{path}:{line}: {len(row)} columns; expected 6 (question, four choices, "
                                     f"answer)")
            raw = row[5].strip()
            answer = int(raw) if raw in ("0", "1", "2", "3") else LETTERS.find(raw) if len(raw) == 1 else -1
            if answer < 0:
                raise BabyLlamaError(f"{path}:{line}: answer {raw!r} must be 0-3 (or A-D)")
            out.append(Question(subject, row[0], tuple(row[1:5]), answer, f"{path}:{line}"))  # type: ignore[arg-type]
    return out


def load_split(root: str | Path, split: str) -> dict[str, list[Question]]:
    """subject -> questions of `root/split/SUBJECT_split.csv`, subjects sorted."""
    folder = Path(root) / split
    files = sorted(folder.glob(f"*_{split}.csv"))
    if not files:
        raise BabyLlamaError(f"{folder}: no *_{split}.csv files; give the MMLU folder (with dev/ and test/) "
                             f"as --file")
    return {f.name[:-len(f"_{split}.csv")]: read_questions(f, f.name[:-len(f"_{split}.csv")]) for f in files}


def format_question(q: Question, with_answer: bool) -> str:
    lines = [q.question.strip()] + [f"{L}. {c.strip()}" for L, c in zip(LETTERS, q.choices)]
    return "\n".join(lines) + (f"\nAnswer: {LETTERS[q.answer]}\n\n" if with_answer else "\nAnswer:")


def format_prompt(q: Question, shots: Sequence[Question]) -> str:
    head = f"The following are multiple choice questions (with answers) about {q.subject.replace('_', ' ')}.\n\n"
    return head + "".join(format_question(s, True) for s in shots) + format_question(q, False)


def prompt_ids(tokenizer: Any, q: Question, shots: Sequence[Question], limit: int) -> tuple[list[int], int, bool]:
    """(ids with BOS, shots kept, cut from the left?) of the longest prompt within `limit` tokens."""
    k = len(shots)
    while True:
        ids = tokenizer.encode(format_prompt(q, shots[len(shots) - k:]), bos=True, eos=False)
        if len(ids) <= limit:
            return ids, k, False
        if k == 0:
            return [ids[0]] + ids[len(ids) - limit + 1:], 0, True
        k -= 1


def continuation_ids(tokenizer: Any, text: str) -> list[int]:
    """The tokens `text` gets right after "Answer:" and a space (so a SentencePiece or byte-level BPE
    tokenizer gives its word-initial form); encoded alone when that would change the prompt's tokens."""
    base = tokenizer.encode("Answer:", bos=False, eos=False)
    full = tokenizer.encode(f"Answer: {text.strip()}", bos=False, eos=False)
    if full[:len(base)] == base and len(full) > len(base):
        return full[len(base):]
    return tokenizer.encode(text.strip(), bos=False, eos=False) or [tokenizer.eos_id]


@torch.inference_mode()
def next_token_logprobs(model: Any, prompts: Sequence[Sequence[int]], token_ids: Sequence[int]) -> torch.Tensor:
    """(B, K) log p(token_ids[k] | prompt b) from one forward pass over the right-padded prompts."""
    device = model.tok_embeddings.weight.device
    lengths = torch.tensor([len(p) for p in prompts], device=device)
    x = torch.zeros(len(prompts), int(lengths.max()), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        x[i, :len(p)] = torch.tensor(list(p), device=device)
    start = int(lengths.min()) - 1  # right padding: every real position sees only real tokens before it
    hidden = model(x, last_only=True, outputs_from=start).hidden
    last = hidden[torch.arange(len(prompts), device=device), lengths - 1 - start]
    logp = F.log_softmax(model.output(last).float(), -1)
    return logp[:, torch.tensor(list(token_ids), device=device)].cpu()


def continuation_logprobs(model: Any, prompt: Sequence[int], continuations: Sequence[Sequence[int]]) -> list[float]:
    """log p(continuation | prompt), summed over its tokens, for each continuation (the perplexity
    module's window scorer: only the continuation's tokens are scored)."""
    windows = [Window(np.asarray(list(prompt) + list(c), dtype=np.int64), len(prompt)) for c in continuations]
    return [-nll for nll, _ in score_batch(model, windows)]


def evaluate_mmlu(model: Any, tokenizer: Any, *, path: str | Path | None = None, n: int | None = 10, seed: int = 0,
                  shots: int = 0, score: str = "letter", batch_size: int = 16, **_: Any) -> dict[str, Any]:
    """Accuracy (percent) per subject and overall, on `n` test questions of each subject drawn with
    `seed` (None: all). Returns the task report (metrics, baselines, subjects, rows)."""
    if shots not in range(0, 6):
        raise BabyLlamaError(f"--mmlu-shots {shots}: must be 0-5")
    if score not in ("letter", "text"):
        raise BabyLlamaError(f"--mmlu-score {score!r}: choose 'letter' or 'text'")
    root = Path(path) if path is not None else shared_data() / "mmlu"
    if not root.is_dir():
        raise BabyLlamaError(f"{root}: MMLU folder not found (it holds dev/ and test/); give it with --file")
    test, dev = load_split(root, "test"), load_split(root, "dev")
    questions = [q for qs in test.values() for q in sample_subset(qs, n, seed)]
    letter_conts = [continuation_ids(tokenizer, L) for L in LETTERS]
    single = all(len(c) == 1 for c in letter_conts)
    choice_conts = [[continuation_ids(tokenizer, c) for c in q.choices] if score == "text" else [] for q in questions]
    rendered = [prompt_ids(tokenizer, q, dev.get(q.subject, [])[:shots],
                           model.config.max_seq_len - max(len(c) for c in letter_conts + conts))
                for q, conts in zip(questions, choice_conts)]

    was_training = model.training
    model.eval()
    try:
        letter_scores = torch.empty(len(questions), 4)
        if single:
            order = sorted(range(len(questions)), key=lambda i: len(rendered[i][0]))
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                letter_scores[idx] = next_token_logprobs(model, [rendered[i][0] for i in idx],
                                                         [c[0] for c in letter_conts])
        else:  # a letter takes several tokens after "Answer:": score each as a continuation
            for i, (ids, _, _) in enumerate(rendered):
                letter_scores[i] = torch.tensor(continuation_logprobs(model, ids, letter_conts))
        text_scores = None
        if score == "text":
            text_scores = torch.empty(len(questions), 2, 4)
            for i, (q, conts, (ids, _, _)) in enumerate(zip(questions, choice_conts, rendered)):
                lp = torch.tensor(continuation_logprobs(model, ids, conts))
                nbytes = torch.tensor([max(1, len((" " + c.strip()).encode("utf-8"))) for c in q.choices])
                text_scores[i] = torch.stack([lp, lp / nbytes])
    finally:
        model.train(was_training)

    gold = torch.tensor([q.answer for q in questions])
    pred = letter_scores.argmax(-1)
    correct = (100.0 * (pred == gold)).tolist()
    metrics = {"accuracy": mean_ci(correct)}
    if text_scores is not None:
        metrics["accuracy_text"] = mean_ci((100.0 * (text_scores[:, 0].argmax(-1) == gold)).tolist())
        metrics["accuracy_text_norm"] = mean_ci((100.0 * (text_scores[:, 1].argmax(-1) == gold)).tolist())
    subjects = {}
    for subject in test:
        values = [c for c, q in zip(correct, questions) if q.subject == subject]
        if values:
            subjects[subject] = mean_ci(values, n_boot=500)
    majority = Counter(q.answer for qs in dev.values() for q in qs).most_common(1)[0][0]
    majority_acc = 100.0 * float(np.mean([q.answer == majority for q in questions]))
    baselines = {m: {"chance": 25.0, f"always {LETTERS[majority]} (dev majority)": majority_acc} for m in metrics}
    rows = [{"id": q.source, "subject": q.subject, "answer": LETTERS[q.answer], "prediction": LETTERS[int(p)],
             "correct": bool(p == q.answer), "letter_logprobs": [round(float(v), 4) for v in ls],
             "shots": k, "cut": cut}
            for q, p, ls, (_, k, cut) in zip(questions, pred, letter_scores, rendered)]
    total = sum(len(qs) for qs in test.values())
    return {"task": "mmlu", "mode": f"{shots}-shot, {score}", "n": len(questions), "metrics": metrics,
            "baselines": baselines, "subjects": subjects,
            "subset": None if len(questions) == total else f"{n} test questions of each of the {len(test)} subjects, "
                                                           f"drawn with seed {seed} ({len(questions)} of {total})",
            "settings": {"shots": shots, "score": score, "letters_single_tokens": single,
                         "predicted_letters": {L: int((pred == k).sum()) for k, L in enumerate(LETTERS)},
                         "prompts_with_fewer_shots": sum(k < min(shots, len(dev.get(q.subject, [])))
                                                         for q, (_, k, _) in zip(questions, rendered)),
                         "prompts_cut": sum(cut for _, _, cut in rendered)},
            "rows": rows}
