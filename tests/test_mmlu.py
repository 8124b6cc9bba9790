"""MMLU: reading the CSVs (and their one-line errors), the prompt, and letter / text scoring on a tiny
random model checked against a plain forward pass; the real folder's layout when it is there."""
import re
import zlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from babyllama.eval.mmlu import (LETTERS, Question, evaluate_mmlu, format_prompt, load_split, prompt_ids,
                                 read_questions)
from babyllama.utils.io import BabyLlamaError
from helpers import noisy_model, write_mmlu

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class WordTokenizer:
    """Words with their leading space as one token each (ids by CRC32), so " A" is one token."""

    bos_id, eos_id, pad_id, vocab_size = 1, 2, 0, 97

    def encode(self, text, bos=True, eos=False):
        ids = [3 + zlib.crc32(p.encode()) % 94 for p in re.findall(r" ?\w+| ?[^\w\s]|\s", text)]
        return [self.bos_id] * bos + ids + [self.eos_id] * eos


class CharTokenizer(WordTokenizer):
    """One token per character, so " A" takes two."""

    def encode(self, text, bos=True, eos=False):
        return [self.bos_id] * bos + [3 + ord(c) % 94 for c in text] + [self.eos_id] * eos


def test_reading_rows_and_errors(tmp_path):
    root = write_mmlu(tmp_path / "mmlu")
    qs = read_questions(root / "test" / "anatomy_test.csv", "anatomy")
    assert len(qs) == 4 and qs[0].choices == ("red", "blue", "green, dark", "yellow")
    assert qs[0].question == "anatomy question 0, part two?" and qs[0].source.endswith("anatomy_test.csv:2")
    assert [q.answer for q in qs] == [(i * 3 + 7) % 4 for i in range(4)]
    assert sorted(load_split(root, "dev")) == ["anatomy", "world_religions"]
    bad = tmp_path / "bad_test.csv"
    bad.write_text("question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,2\nq,a,b,c,d,4\n")
    with pytest.raises(BabyLlamaError, match=r"bad_test.csv:3: answer '4' must be 0-3 \(or A-D\)$"):
        read_questions(bad, "bad")
    bad.write_text("q,a,b,c,d,1\n\"multi\nline q\",a,b,c,d,C\nq,a,b,c,1\n")  # no header; a quoted newline
    with pytest.raises(BabyLlamaError, match=r"bad_test.csv:4: 5 columns; expected 6"):
        read_questions(bad, "bad")
    bad.write_text("q,a,b,c,d,1\nq,a,b,c,d,C\n")  # the original files' letters are read too
    assert [q.answer for q in read_questions(bad, "bad")] == [1, 2]
    with pytest.raises(BabyLlamaError, match="no \\*_test.csv files"):
        load_split(tmp_path / "nowhere", "test")


def test_prompt_is_the_papers_format():
    shot = Question("high_school_physics", "What moves?", ("a", "b", "c", "d"), 2, "x:2")
    q = Question("high_school_physics", "Why?", ("w", "x", "y", "z"), 0, "x:3")
    assert format_prompt(q, [shot]) == (
        "The following are multiple choice questions (with answers) about high school physics.\n\n"
        "What moves?\nA. a\nB. b\nC. c\nD. d\nAnswer: C\n\n"
        "Why?\nA. w\nB. x\nC. y\nD. z\nAnswer:")
    tok = CharTokenizer()
    full = tok.encode(format_prompt(q, [shot]))
    ids, kept, cut = prompt_ids(tok, q, [shot], len(full))
    assert (ids, kept, cut) == (full, 1, False)
    ids, kept, cut = prompt_ids(tok, q, [shot], len(full) - 1)  # the shot goes first
    assert ids == tok.encode(format_prompt(q, [])) and (kept, cut) == (0, False)
    ids, kept, cut = prompt_ids(tok, q, [shot], 20)  # then the start of the prompt, BOS kept
    assert len(ids) == 20 and ids[0] == tok.bos_id and ids[1:] == tok.encode(format_prompt(q, []))[-19:] and cut


def independent_scores(model, tok, root, shots, conts_of):
    """log p(continuation | prompt) by one plain forward pass over prompt + continuation."""
    test, dev = load_split(root, "test"), load_split(root, "dev")
    out = []
    for subject, qs in test.items():
        for q in qs:
            prompt = tok.encode(format_prompt(q, dev[subject][:shots]))
            row = []
            for cont in conts_of(q):
                with torch.no_grad():
                    logp = F.log_softmax(model(torch.tensor([prompt + cont])).logits[0].double(), -1)
                row.append(sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(cont)))
            out.append((q, row))
    return out


@pytest.mark.parametrize("tok_cls,shots", [(WordTokenizer, 0), (WordTokenizer, 2), (CharTokenizer, 1)])
def test_letter_scoring_matches_a_plain_forward_pass(tmp_path, tok_cls, shots):
    tok = tok_cls()
    root = write_mmlu(tmp_path / "mmlu")
    model = noisy_model(0, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16,
                        max_seq_len=512)
    # the letter's tokens after "Answer:": one (" A") for the word tokenizer, two (" ", "A") for characters
    letter = {L: tok.encode(f"Answer: {L}", bos=False)[len(tok.encode("Answer:", bos=False)):] for L in LETTERS}
    want = independent_scores(model, tok, root, shots, lambda q: [letter[L] for L in LETTERS])
    rep = evaluate_mmlu(model, tok, path=root, n=None, shots=shots, batch_size=3)
    assert rep["n"] == 8 and rep["subset"] is None
    assert rep["settings"]["letters_single_tokens"] == (tok_cls is WordTokenizer)
    for row, (q, scores) in zip(rep["rows"], want):
        assert row["letter_logprobs"] == pytest.approx(scores, abs=2e-4)
        assert row["prediction"] == LETTERS[max(range(4), key=scores.__getitem__)] and row["shots"] == shots
    correct = [100.0 * (LETTERS[max(range(4), key=s.__getitem__)] == LETTERS[q.answer]) for q, s in want]
    assert rep["metrics"]["accuracy"]["mean"] == pytest.approx(sum(correct) / len(correct))
    assert rep["subjects"]["anatomy"]["n"] == 4
    picks = [LETTERS[max(range(4), key=s.__getitem__)] for _, s in want]
    assert rep["settings"]["predicted_letters"] == {L: picks.count(L) for L in LETTERS}
    dev_answers = [q.answer for qs in load_split(root, "dev").values() for q in qs]
    majority = max(range(4), key=dev_answers.count)
    base = rep["baselines"]["accuracy"]
    assert base["chance"] == 25.0
    assert base[f"always {LETTERS[majority]} (dev majority)"] == pytest.approx(
        100.0 * sum(q.answer == majority for q, _ in want) / len(want))


def test_text_scoring_and_subsets(tmp_path):
    tok = WordTokenizer()
    root = write_mmlu(tmp_path / "mmlu")
    model = noisy_model(1, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16,
                        max_seq_len=512)
    base = len(tok.encode("Answer:", bos=False))
    want = independent_scores(model, tok, root, 0,
                              lambda q: [tok.encode(f"Answer: {c}", bos=False)[base:] for c in q.choices])
    rep = evaluate_mmlu(model, tok, path=root, n=2, shots=0, score="text")
    assert rep["n"] == 4 and rep["subset"] == "2 test questions of each of the 2 subjects, drawn with seed 0 (4 of 8)"
    ids = [r["id"] for r in rep["rows"]]
    assert [i.split("/")[-1].split("_test")[0] for i in ids] == ["anatomy"] * 2 + ["world_religions"] * 2
    picked = [(q, s) for q, s in want if q.source in ids]
    assert len(picked) == 4
    acc = [100.0 * (max(range(4), key=s.__getitem__) == q.answer) for q, s in picked]
    assert rep["metrics"]["accuracy_text"]["mean"] == pytest.approx(sum(acc) / len(acc))
    norm = [100.0 * (max(range(4), key=lambda k: s[k] / len(" " + q.choices[k])) == q.answer) for q, s in picked]
    assert rep["metrics"]["accuracy_text_norm"]["mean"] == pytest.approx(sum(norm) / len(norm))
    small = noisy_model(1, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16, max_seq_len=24)
    rep = evaluate_mmlu(small, tok, path=root, n=1, shots=5)
    assert rep["settings"]["prompts_with_fewer_shots"] == 2 and rep["settings"]["prompts_cut"] == 2
    with pytest.raises(BabyLlamaError, match="--mmlu-shots 6: must be 0-5"):
        evaluate_mmlu(small, tok, path=root, shots=6)


@pytest.mark.skipif(not (SHARED / "mmlu").is_dir(), reason="shared data not present")
def test_shared_mmlu_layout():
    test, dev = load_split(SHARED / "mmlu", "test"), load_split(SHARED / "mmlu", "dev")
    assert len(test) == len(dev) == 57
    assert sum(map(len, test.values())) == 14042 and all(len(v) == 5 for v in dev.values())
